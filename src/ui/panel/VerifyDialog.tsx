import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ContactSafetyView, SafetyNumberView } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';
import { useLoadable } from '../use-rpc';
import { SafetyBadge } from './SafetyBadge';
import { SafetyQr } from './SafetyQr';

interface Props {
  did: string;
  name: string;
  onClose(): void;
  /** The verification changed here: the member list shows it before its next re-read. */
  onState(view: ContactSafetyView): void;
}

const STATE_TEXT: Record<SafetyNumberView['state'], (name: string) => string> = {
  unverified: (name) => `You have not verified ${name} yet.`,
  verified: (name) => `You verified ${name}. Their devices are the same as when you did.`,
  changed: (name) =>
    `${name}'s devices changed since you verified them. That happens when they sign in on another browser, ` +
    'but it could also mean someone added a device to their account to read your messages.',
};

/** Digits read one by one, a group at a time: "1 2 3 4 5, 6 7 8 9 0, …". */
function spoken(groups: readonly string[]): string {
  return groups.map((g) => g.split('').join(' ')).join(', ');
}

/**
 * Compare a safety number and mark it verified. A native modal <dialog>: the browser keeps
 * focus inside it and Escape closes it; focus returns to where it was opened from.
 * "Mark as verified" sends back the fingerprint that is on screen, so a key change between
 * showing and clicking is refused by the background instead of being verified unseen.
 */
export function VerifyDialog({ did, name, onClose, onState }: Props) {
  const rpc = useRpc();
  const dialog = useRef<HTMLDialogElement>(null);
  const [number, reload, setNumber] = useLoadable(() => rpc.call('contact.safetyNumber', { did }), [rpc, did]);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  const titleId = `safety-title-${did}`;
  const stateId = `safety-state-${did}`;

  useLayoutEffect(() => {
    const el = dialog.current;
    const opener = document.activeElement as HTMLElement | null;
    if (el && !el.open) el.showModal();
    return () => {
      if (el?.open) el.close();
      // Back where it was opened from; if that is gone (the banner went away after a
      // re-verification) or was nothing (a click that does not focus, as in Safari), to the
      // member's own button, so keyboard focus is never dropped.
      const fallback = document.querySelector<HTMLElement>(`[data-safety-opener="${did}"]`);
      (opener?.isConnected && opener !== document.body ? opener : fallback)?.focus?.();
    };
  }, [did]);

  // However the browser closes it (Escape), the component follows: the dialog is never left
  // closed while its owner thinks it is open.
  useEffect(() => {
    const el = dialog.current;
    el?.addEventListener('close', onClose);
    return () => el?.removeEventListener('close', onClose);
  }, [onClose]);

  async function change(action: 'verify' | 'unverify') {
    if (busy || number.state !== 'ready') return;
    setBusy(true);
    setFailure(undefined);
    try {
      const view =
        action === 'verify'
          ? await rpc.call('contact.verify', { did, fingerprint: number.value.fingerprint })
          : await rpc.call('contact.unverify', { did });
      setNumber({ state: 'ready', value: { ...number.value, state: view.state, verifiedAt: view.verifiedAt } });
      onState(view);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'SafetyNumberChanged') {
        setFailure(`${name}'s devices changed while this was open. Here is the new number: compare it again.`);
        reload();
      } else {
        setFailure(`That did not work (${code}). Nothing was changed.`);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <dialog
      ref={dialog}
      class="safety-dialog"
      data-testid="safety-dialog"
      aria-labelledby={titleId}
      aria-describedby={stateId}
    >
      <h2 id={titleId}>Safety number with {name}</h2>
      {number.state === 'loading' && (
        <p id={stateId} role="status">
          Reading {name}'s devices from their account…
        </p>
      )}
      {number.state === 'error' && (
        <p id={stateId} role="alert" data-testid="safety-error">
          Could not compute the safety number ({number.code}). Try again later.
        </p>
      )}
      {number.state === 'ready' && (
        <>
          <p id={stateId} role="status">
            <SafetyBadge testId="safety-dialog-state" state={number.value.state} />{' '}
            {STATE_TEXT[number.value.state](name)}
          </p>
          <p class="muted">
            Compare this number with the one {name} sees, in person or on a call you trust, or scan their code. If they
            match, mark {name} as verified: you will be warned whenever their devices change.
          </p>
          <div class="safety-digits" aria-hidden="true" data-testid="safety-number">
            {number.value.groups.map((g, i) => (
              <span key={i}>{g}</span>
            ))}
          </div>
          <p class="sr-only">Safety number: {spoken(number.value.groups)}.</p>
          <SafetyQr text={number.value.qr} label={`QR code of your safety number with ${name}`} />
          {number.value.rejected > 0 && (
            <p class="safety-note" data-testid="safety-rejected">
              {number.value.rejected === 1 ? '1 device record' : `${number.value.rejected} device records`} of {name}{' '}
              failed verification against their account and {number.value.rejected === 1 ? 'is' : 'are'} not counted.
            </p>
          )}
        </>
      )}
      {failure && (
        <p role="alert" data-testid="safety-failure">
          {failure}
        </p>
      )}
      <div class="safety-actions">
        {number.state === 'ready' && number.value.state !== 'verified' && number.value.devices > 0 && (
          <button type="button" data-testid="safety-verify" aria-disabled={busy} onClick={() => void change('verify')}>
            Mark as verified
          </button>
        )}
        {number.state === 'ready' && number.value.state !== 'unverified' && (
          <button
            type="button"
            class="secondary"
            data-testid="safety-unverify"
            aria-disabled={busy}
            onClick={() => void change('unverify')}
          >
            Unverify
          </button>
        )}
        <button type="button" class="secondary" data-testid="safety-close" onClick={onClose}>
          Close
        </button>
      </div>
    </dialog>
  );
}

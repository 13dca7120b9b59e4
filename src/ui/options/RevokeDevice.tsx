import { useEffect, useRef, useState } from 'preact/hooks';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';

interface Props {
  rkey: string;
  label: string;
  onRevoked(report: { rkey: string; keyPackagesDeleted: number }): void;
}

/** Why a revocation failed, in words; the code stays visible for support. */
function failureText(code: string): string {
  switch (code) {
    case 'UnknownDevice':
      return 'This device is no longer in your account (it may have signed out or been revoked elsewhere).';
    case 'NotSignedIn':
      return 'This browser is not signed in any more. Sign in from the toolbar button, then try again.';
    case 'ThisDevice':
      return 'That is the device you are using. To remove it, sign out from the toolbar button.';
    case 'Network':
    case 'Timeout':
    case 'Disconnected':
      return 'Your PDS could not be reached. The device may be partly revoked; try again.';
    default:
      return 'The device was not revoked. Try again.';
  }
}

/**
 * Revoking deletes another device's record and key packages from the user's repo: the account
 * stops vouching for its keys. It cannot be undone, so it takes a second, explicit step, with
 * focus on the safe choice, as signing out does.
 */
export function RevokeDevice({ rkey, label, onRevoked }: Props) {
  const rpc = useRpc();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const revokeRef = useRef<HTMLButtonElement>(null);
  const opened = useRef(false);

  useEffect(() => {
    if (confirming) cancelRef.current?.focus();
    else if (opened.current) revokeRef.current?.focus();
    opened.current ||= confirming;
  }, [confirming]);

  async function revoke() {
    if (busy) return;
    setBusy(true);
    setFailure(undefined);
    try {
      onRevoked(await rpc.call('devices.revoke', { rkey, confirm: true }));
    } catch (error) {
      setFailure(errorCode(error));
      setBusy(false);
    }
  }

  const titleId = `revoke-title-${rkey}`;
  const warningId = `revoke-warning-${rkey}`;
  if (!confirming) {
    return (
      <button
        type="button"
        class="secondary small"
        data-testid={`device-revoke-${rkey}`}
        aria-label={`Revoke ${label}`}
        ref={revokeRef}
        onClick={() => setConfirming(true)}
      >
        Revoke…
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-labelledby={titleId}>
      <p id={titleId}>
        <strong>Revoke {label}?</strong>
      </p>
      <p id={warningId} class="warning">
        Its device record and key packages are deleted from your repository, so your account no longer vouches for its
        keys and nobody adds it to a conversation again. This cannot be undone: to use that browser again, sign out
        there and sign in again.
      </p>
      <p class="warning">
        If the device was lost or stolen, also revoke the app password it signed in with (Bluesky settings, App
        passwords): while that password works, whoever holds the device can still write to your repository.
      </p>
      <button
        type="button"
        class="danger small"
        data-testid={`device-revoke-confirm-${rkey}`}
        aria-describedby={warningId}
        aria-disabled={busy}
        onClick={() => void revoke()}
      >
        {busy ? 'Revoking…' : 'Revoke device'}
      </button>{' '}
      <button
        type="button"
        class="secondary small"
        data-testid={`device-revoke-cancel-${rkey}`}
        ref={cancelRef}
        disabled={busy}
        onClick={() => {
          setFailure(undefined);
          setConfirming(false);
        }}
      >
        Cancel
      </button>
      {failure && (
        <p role="alert" data-testid={`device-revoke-error-${rkey}`} data-code={failure}>
          {failureText(failure)} ({failure})
        </p>
      )}
    </div>
  );
}

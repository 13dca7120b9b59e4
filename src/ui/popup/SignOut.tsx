import { useEffect, useRef, useState } from 'preact/hooks';
import type { AuthStatus } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';

/**
 * Signing out wipes this device's MLS keys and its decrypted history (they cannot be recovered
 * from the repo), so it takes a second, explicit step.
 */
export function SignOut({ onSignedOut }: { onSignedOut(status: AuthStatus): void }) {
  const rpc = useRpc();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  const cancelRef = useRef<HTMLButtonElement>(null);
  const signOutRef = useRef<HTMLButtonElement>(null);
  const opened = useRef(false);

  // Focus follows the step: Cancel (the safe choice) when asking, back to Sign out after.
  useEffect(() => {
    if (confirming) cancelRef.current?.focus();
    else if (opened.current) signOutRef.current?.focus();
    opened.current ||= confirming;
  }, [confirming]);

  async function confirm() {
    if (busy) return;
    setBusy(true);
    setFailure(undefined);
    try {
      onSignedOut(await rpc.call('auth.signOut', { confirm: true }));
    } catch (error) {
      setFailure(errorCode(error));
      setBusy(false);
    }
  }

  if (!confirming) {
    return (
      <button
        type="button"
        class="secondary"
        data-testid="signout"
        ref={signOutRef}
        onClick={() => setConfirming(true)}
      >
        Sign out
      </button>
    );
  }
  return (
    <div class="confirm" role="group" aria-labelledby="signout-title">
      <p id="signout-title">
        <strong>Sign out of atmessaging?</strong>
      </p>
      <p id="signout-warning" role="alert" class="warning">
        This deletes this device's keys and its encrypted message history. They cannot be recovered: messages that only
        this device could read will be gone. Your Bluesky account and your other devices are not affected.
      </p>
      <button
        type="button"
        class="danger"
        data-testid="signout-confirm"
        aria-describedby="signout-warning"
        aria-disabled={busy}
        onClick={() => void confirm()}
      >
        {busy ? 'Signing out…' : 'Delete keys and sign out'}
      </button>{' '}
      <button
        type="button"
        class="secondary"
        data-testid="signout-cancel"
        ref={cancelRef}
        disabled={busy}
        onClick={() => setConfirming(false)}
      >
        Cancel
      </button>
      {failure && (
        <p role="alert" data-testid="signout-error">
          Sign-out failed ({failure}). Nothing was deleted; try again.
        </p>
      )}
    </div>
  );
}

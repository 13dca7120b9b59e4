import { useState } from 'preact/hooks';
import type { ConvoStatus } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';
import { ProgressBar } from './ProgressBar';
import { useConvoProgress } from './use-progress';

interface Props {
  convoId: string;
  status: ConvoStatus | undefined;
  /** Shown instead of the status when there is none and loading has ended. */
  fallback: string | undefined;
  onStatus(status: ConvoStatus): void;
}

/** The status line, unread count and encryption toggle: what the panel showed before chat. */
export function StatusBar({ convoId, status, fallback, onStatus }: Props) {
  const rpc = useRpc();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  // Turning encryption on for a big group takes a while: the background reports how far it got.
  const [progress, clearProgress] = useConvoProgress(rpc, convoId);

  async function setEncrypted(encrypted: boolean) {
    if (busy) return;
    setBusy(true);
    setFailure(undefined);
    try {
      onStatus(await rpc.call('convo.setEncrypted', { convoId, encrypted }));
    } catch (error) {
      // Keep the last known status (and the button) so the user can retry; show why it failed.
      setFailure(errorCode(error));
    } finally {
      setBusy(false);
      clearProgress();
    }
  }

  const unread = status?.unread ?? 0;
  return (
    <div class="status-bar">
      <div role="status" aria-live="polite" data-testid="panel-status">
        {status
          ? `Conversation ${status.convoId}: encryption ${status.encrypted ? 'on' : 'off'}`
          : (fallback ?? 'Loading…')}
      </div>
      <div class="status-actions">
        {unread > 0 && (
          <p class="unread" data-testid="panel-unread" role="status">
            {unread === 1 ? '1 unread message' : `${unread} unread messages`}
          </p>
        )}
        {status && (
          <button
            type="button"
            data-testid="panel-encrypt-toggle"
            // An action label ("Turn … off") rather than aria-pressed: a pressed button whose name
            // flips would read as a contradiction to screen readers.
            class={status.encrypted ? 'secondary' : undefined}
            aria-disabled={busy}
            onClick={() => void setEncrypted(!status.encrypted)}
          >
            {status.encrypted ? 'Turn encryption off' : 'Turn encryption on'}
          </button>
        )}
      </div>
      {progress && <ProgressBar progress={progress} />}
      {failure && (
        <p role="alert" data-testid="panel-failure">
          That did not work ({failure}). Nothing was changed; try again.
        </p>
      )}
    </div>
  );
}

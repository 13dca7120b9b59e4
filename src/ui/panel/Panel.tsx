import { useState } from 'preact/hooks';
import { isConvoId } from '../../content/convo-route';
import { isAtmError } from '../../errors';
import type { ConvoStatus } from '../../rpc/methods';
import { backgroundClient } from '../background-client';
import { useLoadable } from '../use-rpc';

/**
 * The encrypted chat panel. It runs at the extension's origin inside bsky.app's page, so the
 * page can frame it but never read it: this is the only place conversation plaintext is shown.
 */
export function Panel({ search }: { search: string }) {
  const convoId = new URLSearchParams(search).get('convo');
  if (!isConvoId(convoId)) {
    return (
      <p role="alert" data-testid="panel-error">
        This panel was opened without a valid conversation.
      </p>
    );
  }
  return <ConvoPanel convoId={convoId} />;
}

function ConvoPanel({ convoId }: { convoId: string }) {
  const rpc = backgroundClient();
  const [info] = useLoadable(() => rpc.call('background.info', {}), []);
  const [status, , setStatus] = useLoadable<ConvoStatus>(
    () => rpc.call('convo.status', { convoId }),
    [convoId],
  );
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();

  async function setEncrypted(encrypted: boolean) {
    setBusy(true);
    setFailure(undefined);
    try {
      const value = await rpc.call('convo.setEncrypted', { convoId, encrypted });
      setStatus({ state: 'ready', value });
    } catch (error) {
      // Keep the last known status (and the button) so the user can retry; show why it failed.
      setFailure(isAtmError(error) ? error.code : 'Internal');
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="panel-title">
      <header>
        <h1 id="panel-title">Encrypted chat</h1>
        <p class="muted" data-testid="panel-background">
          {info.state === 'ready'
            ? `Connected to atmessaging ${info.value.version}`
            : info.state === 'error'
              ? `Background unavailable (${info.code})`
              : 'Connecting…'}
        </p>
      </header>
      <div role="status" aria-live="polite" data-testid="panel-status">
        {status.state === 'ready'
          ? `Conversation ${status.value.convoId}: encryption ${status.value.encrypted ? 'on' : 'off'}`
          : status.state === 'error'
            ? `Could not load this conversation (${status.code})`
            : 'Loading…'}
      </div>
      {status.state === 'ready' && (
        <button
          type="button"
          data-testid="panel-encrypt-toggle"
          aria-pressed={status.value.encrypted}
          disabled={busy}
          onClick={() => void setEncrypted(!status.value.encrypted)}
        >
          {status.value.encrypted ? 'Turn encryption off' : 'Turn encryption on'}
        </button>
      )}
      {failure && (
        <p role="alert" data-testid="panel-failure">
          That did not work ({failure}). Nothing was changed; try again.
        </p>
      )}
    </section>
  );
}

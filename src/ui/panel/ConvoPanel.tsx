import { useLoadable } from '../use-rpc';
import { useRpc } from '../rpc-context';
import { EncryptedChat } from './EncryptedChat';
import { SignedOut } from './SignedOut';
import { StatusBar } from './StatusBar';
import { stateStatus, useConvo } from './use-convo';
import { useMarkRead } from './use-mark-read';

/**
 * The encrypted chat panel. It runs at the extension's origin inside bsky.app's page, so the
 * page can frame it but never read it: this is the only place conversation plaintext is shown.
 */
export function ConvoPanel({ convoId }: { convoId: string }) {
  const rpc = useRpc();
  const [info] = useLoadable(() => rpc.call('background.info', {}), [rpc]);
  const { state, setStatus, setView, addMessage } = useConvo(rpc, convoId);
  const status = stateStatus(state);
  useMarkRead(rpc, convoId, state.kind === 'ready' ? (status?.unread ?? 0) : 0, setStatus);

  return (
    <section class="panel" aria-labelledby="panel-title">
      <header class="panel-header">
        <h1 id="panel-title">Encrypted chat</h1>
        <p class="muted" data-testid="panel-background">
          {info.state === 'ready'
            ? `Connected to atmessaging ${info.value.version}`
            : info.state === 'error'
              ? `Background unavailable (${info.code})`
              : 'Connecting…'}
        </p>
        <StatusBar
          convoId={convoId}
          status={status}
          fallback={
            state.kind === 'unavailable'
              ? `Could not load this conversation (${state.code})`
              : state.kind === 'signed-out'
                ? 'Not signed in'
                : undefined
          }
          onStatus={setStatus}
        />
      </header>
      {state.kind === 'signed-out' && <SignedOut />}
      {state.kind === 'unavailable' && status?.encrypted && (
        <p role="alert" data-testid="panel-view-error">
          Could not load the encrypted messages ({state.code}).
        </p>
      )}
      {state.kind === 'ready' && state.view.status.encrypted && (
        <EncryptedChat convoId={convoId} view={state.view} me={state.me} onView={setView} onSent={addMessage} />
      )}
    </section>
  );
}

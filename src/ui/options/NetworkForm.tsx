import { useState } from 'preact/hooks';
import type { NetworkSettings } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';

/** The background normalises and validates; the form shows back what it stored. */
export function NetworkForm({ initial }: { initial: NetworkSettings }) {
  const rpc = useRpc();
  const [values, setValues] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();

  function field(key: keyof NetworkSettings) {
    return {
      value: values[key],
      readOnly: busy,
      required: true,
      onInput: (e: Event) => {
        const value = (e.currentTarget as HTMLInputElement).value;
        setValues((v) => ({ ...v, [key]: value }));
        setSaved(false);
      },
    };
  }

  async function save(event: Event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setSaved(false);
    setFailure(undefined);
    try {
      setValues(
        await rpc.call('settings.setNetwork', {
          plcUrl: values.plcUrl.trim(),
          handleResolver: values.handleResolver.trim(),
          chatProxy: values.chatProxy.trim(),
        }),
      );
      setSaved(true);
    } catch (error) {
      setFailure(errorCode(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="network" aria-labelledby="network-title" aria-busy={busy} onSubmit={(e) => void save(e)}>
      <h2 id="network-title">Network</h2>
      <p class="muted">
        Only change these to use a self-hosted PLC directory or chat service, or a local test network. Wrong values
        break sign-in and messaging; the production values are the defaults.
      </p>

      <label for="settings-plc">PLC directory URL</label>
      <input
        id="settings-plc"
        data-testid="settings-plc"
        type="url"
        aria-describedby="settings-plc-hint"
        {...field('plcUrl')}
      />
      <span id="settings-plc-hint" class="hint">
        Resolves did:plc identities, e.g. https://plc.directory
      </span>

      <label for="settings-resolver">Handle resolver URL</label>
      <input
        id="settings-resolver"
        data-testid="settings-resolver"
        type="url"
        aria-describedby="settings-resolver-hint"
        {...field('handleResolver')}
      />
      <span id="settings-resolver-hint" class="hint">
        A service answering com.atproto.identity.resolveHandle, e.g. a PDS or AppView.
      </span>

      <label for="settings-chat">Chat service proxy</label>
      <input
        id="settings-chat"
        data-testid="settings-chat"
        type="text"
        autocapitalize="off"
        spellcheck={false}
        aria-describedby="settings-chat-hint"
        {...field('chatProxy')}
      />
      <span id="settings-chat-hint" class="hint">
        The chat service as &lt;did&gt;#&lt;service id&gt;, e.g. did:web:api.bsky.chat#bsky_chat
      </span>

      {failure && (
        <p role="alert" data-testid="settings-error">
          {failure === 'BadRequest'
            ? 'Not saved: URLs must use https (http only for localhost) and the chat proxy must look like did:web:host#service.'
            : `Not saved (${failure}). Please try again.`}
        </p>
      )}
      <div class="row">
        <button type="submit" data-testid="settings-save" aria-disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        <span role="status" class="saved">
          {saved && <span data-testid="settings-saved">Saved.</span>}
        </span>
      </div>
    </form>
  );
}

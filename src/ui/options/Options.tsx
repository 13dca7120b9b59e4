import { BackgroundInfo } from '../BackgroundInfo';
import { useRpc } from '../rpc-context';
import { useLoadable } from '../use-rpc';
import { Devices } from './Devices';
import { NetworkForm } from './NetworkForm';

export function Options() {
  const rpc = useRpc();
  const [settings, reload] = useLoadable(() => rpc.call('settings.network', {}), [rpc]);
  return (
    <section class="options" aria-labelledby="options-title">
      <h1 id="options-title">atmessaging settings</h1>
      <BackgroundInfo />
      {settings.state === 'loading' ? (
        <p class="muted">Loading settings…</p>
      ) : settings.state === 'error' ? (
        <div>
          <p role="alert" data-testid="settings-load-error">
            Could not load the settings ({settings.code}).
          </p>
          <button type="button" onClick={reload}>
            Try again
          </button>
        </div>
      ) : (
        <NetworkForm initial={settings.value} />
      )}
      <Devices />
    </section>
  );
}

import { useRpc } from './rpc-context';
import { useLoadable } from './use-rpc';

/** One line saying whether the background answers, shown by the popup and options pages. */
export function BackgroundInfo() {
  const rpc = useRpc();
  const [info] = useLoadable(() => rpc.call('background.info', {}), [rpc]);
  return (
    <p class="muted" role="status" data-testid="background-info">
      {info.state === 'ready'
        ? `atmessaging ${info.value.version} is running.`
        : info.state === 'error'
          ? `The background is not answering (${info.code}).`
          : 'Connecting…'}
    </p>
  );
}

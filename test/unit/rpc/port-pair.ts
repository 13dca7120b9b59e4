import type { PortLike } from '../../../src/rpc/port';
import type { SenderLike } from '../../../src/rpc/sender';

/**
 * An in-memory `runtime.Port` pair (WXT's fake browser has no `runtime.connect`). Messages are
 * structured-cloned and delivered asynchronously, as the browser does.
 */
export function portPair(name: string, sender: SenderLike) {
  type Listener<T> = (value: T) => void;
  function end(senderInfo: SenderLike | undefined) {
    const messageListeners: Listener<unknown>[] = [];
    const disconnectListeners: Listener<void>[] = [];
    return {
      messageListeners,
      disconnectListeners,
      port: {
        name,
        sender: senderInfo,
        postMessage: (_m: unknown) => {},
        disconnect: () => {},
        onMessage: { addListener: (l: Listener<unknown>) => void messageListeners.push(l) },
        onDisconnect: { addListener: (l: Listener<void>) => void disconnectListeners.push(l) },
      } as PortLike,
    };
  }
  const client = end(undefined);
  const server = end(sender);
  let connected = true;
  const sent = { toServer: [] as unknown[], toClient: [] as unknown[] };
  function wire(from: ReturnType<typeof end>, to: ReturnType<typeof end>, log: unknown[]) {
    (from.port as { postMessage: (m: unknown) => void }).postMessage = (message) => {
      if (!connected) throw new Error('Attempting to use a disconnected port object');
      const copy = structuredClone(message);
      log.push(copy);
      setTimeout(() => to.messageListeners.forEach((l) => l(copy)), 0);
    };
    (from.port as { disconnect: () => void }).disconnect = () => {
      if (!connected) return;
      connected = false;
      // Like the browser: only the *other* end is told.
      setTimeout(() => to.disconnectListeners.forEach((l) => l()), 0);
    };
  }
  wire(client, server, sent.toServer);
  wire(server, client, sent.toClient);
  return {
    client: client.port,
    server: server.port,
    sent,
    isConnected: () => connected,
  };
}

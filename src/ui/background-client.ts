import { browser } from 'wxt/browser';
import { createRpcClient } from '../rpc/client';
import { parseEvent } from '../rpc/wire';
import type { UiRpc } from './rpc-context';

let client: (UiRpc & { close(): void }) | undefined;

/** The RPC client shared by an extension page (panel, popup, options). */
export function backgroundClient(): UiRpc {
  return (client ??= create());
}

function create(): UiRpc & { close(): void } {
  const disconnectListeners = new Set<() => void>();
  const rpc = createRpcClient((name) => {
    const port = browser.runtime.connect({ name });
    // The RPC client forgets a dropped port silently; the panel needs to know so it can reopen
    // one and keep receiving `convo.changed`.
    port.onDisconnect.addListener(() => {
      for (const listener of disconnectListeners) listener();
    });
    return port;
  }, { parseEvent });
  return {
    call: rpc.call,
    onEvent: rpc.onEvent,
    close: rpc.close,
    onDisconnect(listener) {
      disconnectListeners.add(listener);
      return () => disconnectListeners.delete(listener);
    },
  };
}

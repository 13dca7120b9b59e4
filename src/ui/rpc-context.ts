import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { RpcClient } from '../rpc/client';
import { backgroundClient } from './background-client';

/** What components need from the background; tests provide a fake through `RpcContext`. */
export interface UiRpc {
  call: RpcClient['call'];
  onEvent: RpcClient['onEvent'];
  /**
   * The port dropped (the browser stopped an idle service worker). Pushed events stop until the
   * next call opens a new port, so pages that show live state call again.
   */
  onDisconnect?(listener: () => void): () => void;
}

export const RpcContext = createContext<UiRpc | undefined>(undefined);

export function useRpc(): UiRpc {
  return useContext(RpcContext) ?? backgroundClient();
}

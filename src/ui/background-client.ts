import { browser } from 'wxt/browser';
import { createRpcClient, type RpcClient } from '../rpc/client';

let client: RpcClient | undefined;

/** The RPC client shared by an extension page (panel, popup, options). */
export function backgroundClient(): RpcClient {
  return (client ??= createRpcClient((name) => browser.runtime.connect({ name })));
}

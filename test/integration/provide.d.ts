import type { NetworkInfo } from '../net/network';

// What test/integration/global-setup.ts provides; read it with inject('network').
declare module 'vitest' {
  export interface ProvidedContext {
    network: NetworkInfo;
  }
}

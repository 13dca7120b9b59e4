import 'vitest';
import type { ReplicaConvo } from '../net/replica/index';
import type { NetworkInfo } from '../net/network';

/** The demo world of test/net/demo.ts, as plain data. */
export interface DemoInfo {
  directConvoId: string;
  groupConvoId: string;
  accounts: Record<'alice' | 'bob' | 'carol', { did: string; handle: string; appPassword: string }>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Local port of the bsky.app replica (HTTPS, self-signed). */
    replicaPort: number;
    /** Local port of the CONNECT proxy mapping bsky.app:443 to the replica. */
    proxyPort: number;
    /** Absolute path of the unpacked MV3 build for Chromium. */
    chromeExtensionDir: string;
    /** Absolute path of the unpacked MV2 build for Firefox. */
    firefoxExtensionDir: string;
    /** The conversations the replica shows (at least three). */
    convos: ReplicaConvo[];
    /** Absolute path where screenshots go (test-results/e2e). */
    resultsDir: string;
    /** False when ATM_E2E_HEADED=1. */
    headless: boolean;
    /** The local PLC, PDS and chat stand-in. */
    network: NetworkInfo;
    demo: DemoInfo;
  }
}

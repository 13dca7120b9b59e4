import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { startConnectProxy } from '../net/connect-proxy';
import { startReplica, type ReplicaConvo } from '../net/replica/index';
import { startNetwork } from '../net/network';
import { seedDemo } from '../net/demo';
import { DEMO_CONVO_TITLES } from './demo-convos';
import type { DemoInfo } from './provide';

const run = promisify(execFile);

/** Fixed, bsky-shaped (TID-like) conversation ids; each browser gets its own fresh profile. */
export const E2E_CONVOS: ReplicaConvo[] = [
  { id: '3laliceaaaa2a', title: 'Alice' },
  { id: '3lbobbbbbbb2b', title: 'Bob' },
  { id: '3lcarolcccc2c', title: 'Carol' },
];

/**
 * Builds the extension for both browsers into a temp dir of this run (so a concurrent
 * `npm run build` or dev server writing `.output/` cannot swap files under a running browser),
 * using WXT's API with `outDir` overriding wxt.config.ts. Two builds take about 1.5 s.
 * ATM_E2E_NO_BUILD=1 uses the existing `.output/chrome-mv3` and `.output/firefox-mv2` instead.
 */
async function buildExtension(root: string): Promise<{ chrome: string; firefox: string; cleanup(): Promise<void> }> {
  if (process.env.ATM_E2E_NO_BUILD === '1') {
    const chrome = join(root, '.output/chrome-mv3');
    const firefox = join(root, '.output/firefox-mv2');
    for (const dir of [chrome, firefox]) {
      if (!existsSync(join(dir, 'manifest.json'))) throw new Error(`ATM_E2E_NO_BUILD=1 but ${dir} is not built`);
    }
    return { chrome, firefox, cleanup: async () => {} };
  }
  const outDir = await mkdtemp(join(tmpdir(), 'atm-e2e-ext-'));
  const script = [
    "import { build } from 'wxt';",
    'const outDir = process.argv[1];',
    "await build({ browser: 'chrome', outDir });",
    "await build({ browser: 'firefox', outDir });",
  ].join('\n');
  try {
    await run(process.execPath, ['--input-type=module', '-e', script, outDir], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    await rm(outDir, { recursive: true, force: true });
    throw new Error(`extension build failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
  return {
    chrome: join(outDir, 'chrome-mv3'),
    firefox: join(outDir, 'firefox-mv2'),
    cleanup: () => rm(outDir, { recursive: true, force: true }),
  };
}

export default async function setup(project: TestProject) {
  const root = resolve(project.config.root);
  const resultsDir = join(root, 'test-results/e2e');
  await mkdir(resultsDir, { recursive: true });

  // The real local network (PLC, PDS, chat stand-in) with the demo accounts and conversations:
  // the product tests sign in and talk through it. Its sqlite files go to a temp dir of this run.
  const previousTmp = process.env.TMPDIR;
  const netTmp = await mkdtemp(join(tmpdir(), 'atm-e2e-net-'));
  process.env.TMPDIR = netTmp;
  const restoreTmp = async () => {
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    await rm(netTmp, { recursive: true, force: true });
  };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let ext: Awaited<ReturnType<typeof buildExtension>> | undefined;
  let replica: Awaited<ReturnType<typeof startReplica>> | undefined;
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  let demo: Awaited<ReturnType<typeof seedDemo>>;
  try {
    network = await startNetwork();
    demo = await seedDemo(network);
    const demoConvos: ReplicaConvo[] = [
      { id: demo.directConvoId, title: DEMO_CONVO_TITLES.direct },
      { id: demo.groupConvoId, title: DEMO_CONVO_TITLES.group },
    ];
    const [built, started] = await Promise.allSettled([
      buildExtension(root),
      startReplica({ convos: [...E2E_CONVOS, ...demoConvos] }),
    ]);
    if (built.status === 'fulfilled') ext = built.value;
    if (started.status === 'fulfilled') replica = started.value;
    if (built.status === 'rejected') throw built.reason;
    if (started.status === 'rejected') throw started.reason;
    proxy = await startConnectProxy({
      routes: { 'bsky.app:443': { host: '127.0.0.1', port: replica!.port } },
    });
  } catch (error) {
    // Nothing of a failed start outlives it: no ports, no temp dirs.
    await Promise.allSettled([replica?.close(), ext?.cleanup(), network?.close()]);
    await restoreTmp();
    throw error;
  }
  const started = { network: network!, ext: ext!, replica: replica! };

  project.provide('replicaPort', started.replica.port);
  project.provide('proxyPort', proxy.port);
  project.provide('chromeExtensionDir', started.ext.chrome);
  project.provide('firefoxExtensionDir', started.ext.firefox);
  project.provide('convos', E2E_CONVOS);
  project.provide('resultsDir', resultsDir);
  project.provide('headless', process.env.ATM_E2E_HEADED !== '1');
  project.provide('network', started.network.info());
  project.provide('demo', {
    directConvoId: demo.directConvoId,
    groupConvoId: demo.groupConvoId,
    accounts: Object.fromEntries(
      (['alice', 'bob', 'carol'] as const).map((n) => [n, { did: demo[n].did, handle: demo[n].handle, appPassword: demo[n].appPassword }]),
    ) as DemoInfo['accounts'],
  });

  return async function teardown() {
    if (proxy.refused.length > 0) {
      // Not a failure: it shows what the browser tried to reach and was not allowed to.
      const unique = [...new Set(proxy.refused)];
      console.log(`[e2e] CONNECT proxy refused ${proxy.refused.length} request(s): ${unique.join(', ')}`);
    }
    await Promise.all([proxy.close(), started.replica.close()]);
    await started.ext.cleanup();
    await started.network.close();
    await restoreTmp();
  };
}

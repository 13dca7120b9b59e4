// The demo behind `npm start` (run through scripts/start.mjs, which installs and builds first):
// a real local PLC + PDS with demo accounts and conversations, the bsky.app replica, and two
// Chromium profiles with the built extension, alice and bob, each signed in. alice turns
// encryption on in her conversation with bob, bob's device joins, and they exchange one message
// each way through the encrypted panels. With a display both windows stay open; without one it
// runs headless and prints where the screenshots are. `--once` exits after the screenshots (the
// e2e test of this script), leaving test-results/start/summary.json with what the panels showed.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { startNetwork } from '../test/net/network';
import { seedDemo } from '../test/net/demo';
import { startReplica } from '../test/net/replica/index';
import { launchChromium, type ChromiumSession } from '../test/e2e/browsers';
import { DEMO_CONVO_TITLES } from '../test/e2e/demo-convos';
import {
  configureAndSignInChromium,
  openPanelChromium,
  sendChromium,
  waitForKeyPackages,
  waitForPanelChromium,
  type PanelSummary,
} from '../test/e2e/product';

const root = resolve(import.meta.dirname, '..');
const once = process.argv.includes('--once');
const headless = once || !process.env.DISPLAY;
const shots = join(root, 'test-results', 'start');

const FROM_ALICE = 'Hi Bob! Only your browser and mine can read this.';
const FROM_BOB = 'Hi Alice, received, and this answer is end-to-end encrypted too.';

function say(line: string) {
  process.stdout.write(`[atmessaging] ${line}\n`);
}

// The PDS writes its sqlite files under os.tmpdir(): give this run a directory of its own,
// removed on the way out.
const runTmp = await mkdtemp(join(tmpdir(), 'atm-start-'));
process.env.TMPDIR = runTmp;

const closers: Array<() => Promise<unknown>> = [];
async function shutdown(code: number) {
  for (const close of closers.reverse()) await close().catch(() => {});
  await rm(runTmp, { recursive: true, force: true }).catch(() => {});
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const sessions: Record<'alice' | 'bob', { session: ChromiumSession; page: Page } | undefined> = {
  alice: undefined,
  bob: undefined,
};

try {
  const net = await startNetwork();
  closers.push(() => net.close());
  say(`PLC ${net.plcUrl}  PDS ${net.pdsUrl}  chat stand-in ${net.chat.url} (${net.chat.did})`);
  const demo = await seedDemo(net);
  for (const a of [demo.alice, demo.bob, demo.carol]) {
    say(`account ${a.handle}  ${a.did}  password ${a.password}  app password ${a.appPassword}`);
  }
  const direct = demo.directConvoId;
  const replica = await startReplica({
    convos: [
      { id: direct, title: DEMO_CONVO_TITLES.direct },
      { id: demo.groupConvoId, title: DEMO_CONVO_TITLES.group },
    ],
  });
  closers.push(() => replica.close());
  say(`bsky.app replica on ${replica.url} (the browsers reach it as https://bsky.app)`);

  // Two profiles = two devices of two people. Cascaded windows, so both are in view.
  const people = [
    { name: 'alice' as const, account: demo.alice, windowPosition: { x: 0, y: 0 } },
    { name: 'bob' as const, account: demo.bob, windowPosition: { x: 640, y: 80 } },
  ];
  await Promise.all(
    people.map(async ({ name, windowPosition }) => {
      const session = await launchChromium({
        extensionDir: join(root, '.output/chrome-mv3'),
        replicaPort: replica.port,
        userDataDir: join(runTmp, `${name}-profile`),
        headless,
        windowPosition,
      });
      closers.push(() => session.close());
      sessions[name] = { session, page: session.context.pages()[0] ?? (await session.context.newPage()) };
    }),
  );
  const alice = sessions.alice!;
  const bob = sessions.bob!;
  say(`Chromium (${headless ? 'headless' : 'two windows'}): profiles alice and bob with the extension`);

  // Both sign in before alice turns encryption on: her group then holds bob's device at once,
  // and bob joins from the invite on his next read of her repo.
  const signedInAs: Record<string, string> = {};
  await Promise.all(
    people.map(async ({ name, account }) => {
      const { context, extensionOrigin } = sessions[name]!.session;
      signedInAs[name] = await configureAndSignInChromium(context, extensionOrigin, net.info(), account);
      say(`${name}: signed in, the popup shows ${signedInAs[name]}`);
    }),
  );
  // A device enters a group with one of its key packages, which sign-in publishes right after.
  await waitForKeyPackages(net.pdsUrl, demo.bob.did, 30_000);

  const alicePanel = await openPanelChromium(alice.page, direct);
  await waitForPanelChromium(alicePanel, demo.alice.did, "alice's panel loads", (s) => s.status !== null && s.status.endsWith('encryption off'));
  await alicePanel.getByTestId('panel-encrypt-toggle').click();
  const encrypted = (s: PanelSummary) =>
    s.status === `Conversation ${direct}: encryption on` && s.composer && s.joined;
  await waitForPanelChromium(alicePanel, demo.alice.did, 'alice turns encryption on', encrypted);
  say(`alice: turned encryption on in https://bsky.app/messages/${direct} (her conversation with bob)`);

  const bobPanel = await openPanelChromium(bob.page, direct);
  await waitForPanelChromium(bobPanel, demo.bob.did, "bob's device joins alice's group", encrypted, 90_000);
  say("bob: his device joined alice's encrypted group; his panel shows the conversation encrypted");

  const shows = (text: string, own: 'true' | 'false') => (s: PanelSummary) =>
    s.messages.some((m) => m.own === own && m.text === text);
  await sendChromium(alicePanel, FROM_ALICE);
  await waitForPanelChromium(bobPanel, demo.bob.did, "alice's message reaches bob", shows(FROM_ALICE, 'false'));
  say(`alice → bob: "${FROM_ALICE}" decrypted in bob's panel`);
  await sendChromium(bobPanel, FROM_BOB);
  await waitForPanelChromium(alicePanel, demo.alice.did, "bob's answer reaches alice", shows(FROM_BOB, 'false'));
  say(`bob → alice: "${FROM_BOB}" decrypted in alice's panel`);

  // Both own messages acknowledged by their author's PDS ('sent'), then the pictures.
  const sent = (text: string) => (s: PanelSummary) =>
    s.messages.some((m) => m.own === 'true' && m.text === text && m.status === 'sent');
  const aliceView = await waitForPanelChromium(alicePanel, demo.alice.did, "alice's message is sent", sent(FROM_ALICE));
  const bobView = await waitForPanelChromium(bobPanel, demo.bob.did, "bob's message is sent", sent(FROM_BOB));
  await mkdir(shots, { recursive: true });
  const files = { alice: join(shots, 'alice.png'), bob: join(shots, 'bob.png') };
  await alice.page.screenshot({ path: files.alice });
  await bob.page.screenshot({ path: files.bob });
  // What each panel showed at the end, for the e2e test of this script (test/e2e/start.test.ts).
  const summary = join(shots, 'summary.json');
  await writeFile(
    summary,
    JSON.stringify(
      {
        convoId: direct,
        alice: { did: demo.alice.did, signedInAs: signedInAs.alice, panel: aliceView },
        bob: { did: demo.bob.did, signedInAs: signedInAs.bob, panel: bobView },
      },
      null,
      2,
    ),
  );
  say(`screenshots of both panels: ${files.alice} and ${files.bob} (what they showed: ${summary})`);
} catch (error) {
  say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  // The state the windows were left in is the most useful picture of a failure.
  await mkdir(shots, { recursive: true }).catch(() => {});
  for (const [name, s] of Object.entries(sessions)) {
    if (s) await s.page.screenshot({ path: join(shots, `${name}-failed.png`) }).catch(() => {});
  }
  await shutdown(1);
}

if (once) {
  await shutdown(0);
} else {
  say(
    headless
      ? 'running headless (no display); the network stays up for your own browser. Press Ctrl-C to stop'
      : 'both windows stay open: write in either panel. Press Ctrl-C to stop',
  );
}

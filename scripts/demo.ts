// The demo behind `npm start` (run through scripts/start.mjs, which installs and builds first):
// a real local PLC + PDS with demo accounts and conversations, the bsky.app replica, and
// Debian's Chromium with the built extension, opened on alice's conversation with bob.
// Headless when there is no display; then it prints where the screenshots are.
// `--once` takes the screenshots and exits (used by the e2e test of this script).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startNetwork } from '../test/net/network';
import { seedDemo } from '../test/net/demo';
import { startReplica } from '../test/net/replica/index';
import { launchChromium } from '../test/e2e/browsers';

const root = resolve(import.meta.dirname, '..');
const once = process.argv.includes('--once');
const headless = once || !process.env.DISPLAY;
const shots = join(root, 'test-results', 'start');

function say(line: string) {
  process.stdout.write(`[atmessaging] ${line}\n`);
}

// The PDS writes its sqlite files under os.tmpdir(): give this run a directory of its own,
// removed on the way out.
const runTmp = await mkdtemp(join(tmpdir(), 'atm-start-'));
process.env.TMPDIR = runTmp;

const net = await startNetwork();
say(`PLC ${net.plcUrl}  PDS ${net.pdsUrl}  chat stand-in ${net.chat.url} (${net.chat.did})`);
const demo = await seedDemo(net);
for (const a of [demo.alice, demo.bob, demo.carol]) {
  say(`account ${a.handle}  ${a.did}  password ${a.password}  app password ${a.appPassword}`);
}
const replica = await startReplica({
  convos: [
    { id: demo.directConvoId, title: 'Bob' },
    { id: demo.groupConvoId, title: 'Demo group' },
  ],
});
say(`bsky.app replica on ${replica.url} (the browser reaches it as https://bsky.app)`);

const browser = await launchChromium({
  extensionDir: join(root, '.output/chrome-mv3'),
  replicaPort: replica.port,
  userDataDir: join(runTmp, 'alice-profile'),
  headless,
});
const page = browser.context.pages()[0] ?? (await browser.context.newPage());
await page.setViewportSize({ width: 1280, height: 900 });
await page.goto(`https://bsky.app/messages/${demo.directConvoId}`);
const toggle = page.locator(`[data-atmessaging-convo="${demo.directConvoId}"]`).getByTestId('atm-toggle');
await toggle.waitFor({ timeout: 20_000 });
say(`Chromium (${headless ? 'headless' : 'window'}) is on https://bsky.app/messages/${demo.directConvoId}`);

await mkdir(shots, { recursive: true });
await page.screenshot({ path: join(shots, '01-conversation.png') });
await toggle.click();
const panel = page.frameLocator(`[data-atmessaging-convo="${demo.directConvoId}"] iframe`);
await panel.getByTestId('panel-background').getByText('Connected').waitFor({ timeout: 20_000 });
await page.screenshot({ path: join(shots, '02-panel-open.png') });
say(`screenshots: ${join(shots, '01-conversation.png')} and ${join(shots, '02-panel-open.png')}`);

async function shutdown(code: number) {
  await browser.close().catch(() => {});
  await replica.close().catch(() => {});
  await net.close().catch(() => {});
  await rm(runTmp, { recursive: true, force: true }).catch(() => {});
  process.exit(code);
}

if (once) {
  await shutdown(0);
} else {
  say('running; press Ctrl-C to stop');
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
}

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { attachNetwork } from '../net/remote';
import { launchChromium, type ChromiumSession } from './browsers';
import { snapshotMounts } from './page-probes';
import {
  configureAndSignInChromium,
  encryptedAndJoined,
  eventRecordsJson,
  foundTexts,
  openPanelChromium,
  pageTextAndMarkup,
  repoCar,
  sendChromium,
  waitForKeyPackages,
  nudgingPanelReader,
  panelReader,
} from './product';

const POLL = { timeout: 10_000, interval: 100 };
/** The background reads peers' repos when the PDS firehose wakes it, and every minute anyway. */
const DELIVERY = { timeout: 60_000, interval: 250 };
/**
 * Adding bob's new device (§6.9): while bob's devices of the earlier e2e files are in the group
 * (their profiles are closed), alice's device waits `peerAddDelayMs` (30 s) plus its turn, up to
 * one 15 s slot per leaf ahead of it in the epoch's order (at most 6 leaves here), then bob reads
 * the invite: up to 2 min by the protocol, plus delivery.
 */
const PEER_ADD = { timeout: 180_000, interval: 250 };

/**
 * Two browser profiles, two people: alice and bob (the demo accounts) each sign in on their own
 * Chromium profile and talk in the demo direct conversation through the encrypted panel, over
 * the real local PDS and the chat stand-in. Then alice encrypts the demo group, where carol has
 * no extension and gets the plain invite DM. Nothing may leak: the message texts must not appear
 * in bsky.app's page, in any PDS record or repo, or in what the chat service stores.
 */
describe('Chromium: an encrypted conversation between two profiles', () => {
  const network = inject('network');
  const demo = inject('demo');
  const { alice, bob, carol } = demo.accounts;
  const direct = demo.directConvoId;
  const net = attachNetwork(network);
  const extensionDir = inject('chromeExtensionDir');
  const shot = (name: string) => join(inject('resultsDir'), `chromium-conversation-${name}.png`);
  // Unique per run, so a search can never match a leftover of an earlier run.
  const run = randomUUID().slice(0, 8);
  const fromAlice = `Hello Bob, this stays between us ${run}`;
  const fromBob = `Hi Alice, received and answered ${run}`;
  const texts = [fromAlice, fromBob];

  const dirs: string[] = [];
  let aliceSession: ChromiumSession;
  let bobSession: ChromiumSession;
  let alicePage: Page;
  let bobPage: Page;
  let alicePanel: Frame;
  let bobPanel: Frame;
  let screenshotsTaken = false;
  /**
   * What the earlier steps achieved. A step that needs an earlier one fails at once, naming it,
   * instead of waiting out its own timeouts on a state that cannot come.
   */
  const done = { aliceEncrypted: false, bobSignedIn: false, bobJoined: false };
  const needs = (step: keyof typeof done) => expect(done[step], `needs the earlier step "${step}"`).toBe(true);

  async function launch(name: string): Promise<ChromiumSession> {
    const userDataDir = await mkdtemp(join(tmpdir(), `atm-e2e-${name}-`));
    dirs.push(userDataDir);
    return launchChromium({
      extensionDir,
      replicaPort: inject('replicaPort'),
      headless: inject('headless'),
      userDataDir,
    });
  }


  async function screenshots() {
    await alicePage.screenshot({ path: shot('alice') });
    await bobPage.screenshot({ path: shot('bob') });
    screenshotsTaken = true;
  }

  beforeAll(async () => {
    [aliceSession, bobSession] = await Promise.all([launch('alice'), launch('bob')]);
    alicePage = aliceSession.context.pages()[0] ?? (await aliceSession.context.newPage());
    bobPage = bobSession.context.pages()[0] ?? (await bobSession.context.newPage());
  });

  afterAll(async () => {
    // On a failure, the state the pages were left in is the most useful picture.
    if (!screenshotsTaken && alicePage && bobPage) await screenshots().catch(() => {});
    await Promise.all([aliceSession?.close(), bobSession?.close()]);
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it('alice configures the network, signs in and turns encryption on for her conversation with bob', async () => {
    await configureAndSignInChromium(aliceSession.context, aliceSession.extensionOrigin, network, alice);
    alicePanel = await openPanelChromium(alicePage, direct);
    await expect
      .poll(panelReader(alicePanel, alice.did), POLL)
      .toMatchObject({ status: `Conversation ${direct}: encryption off`, signedOut: false });

    await alicePanel.getByTestId('panel-encrypt-toggle').click();
    await expect.poll(panelReader(alicePanel, alice.did), POLL).toMatchObject(encryptedAndJoined(direct));
    done.aliceEncrypted = true;
  });

  it("bob signs in later, on his own profile, and his panel joins alice's encrypted conversation", async () => {
    needs('aliceEncrypted');
    await configureAndSignInChromium(bobSession.context, bobSession.extensionOrigin, network, bob);
    done.bobSignedIn = true;
    bobPanel = await openPanelChromium(bobPage, direct);
    // Nobody touches bob's toggle: everyone in the conversation who runs the extension joins
    // the group automatically (DESIGN.md), and the panel then shows the conversation encrypted.
    await expect.poll(nudgingPanelReader(bobPanel, bob.did), PEER_ADD).toMatchObject(encryptedAndJoined(direct));
    done.bobJoined = true;
    // bob's device joined from an invite: his panel says earlier messages are unreadable there;
    // alice's, whose device created the group, does not.
    expect((await panelReader(bobPanel, bob.did)()).joinedNotice).toMatch(/^This device joined the encrypted conversation on .+\. Messages sent before then can't be read on this device\.$/);
    expect((await panelReader(alicePanel, alice.did)()).joinedNotice).toBeNull();
    // The lock toggle in bob's bsky.app page follows (the background pushes the status).
    await expect.poll(() => bobPage.evaluate(snapshotMounts), POLL).toMatchObject({ hosts: [{ convoId: direct, state: 'on' }] });
  }, 240_000);

  it('alice writes, bob reads; bob answers, alice reads (Enter sends)', async () => {
    needs('bobJoined');
    await sendChromium(alicePanel, fromAlice);
    await expect
      .poll(panelReader(alicePanel, alice.did), POLL)
      .toMatchObject({ sendError: null, messages: [{ own: 'true', text: fromAlice }] });
    await expect
      .poll(nudgingPanelReader(bobPanel, bob.did), DELIVERY)
      .toMatchObject({ messages: [{ own: 'false', text: fromAlice }] });

    await sendChromium(bobPanel, fromBob);
    await expect
      .poll(panelReader(bobPanel, bob.did), POLL)
      .toMatchObject({ sendError: null, messages: [{ own: 'false', text: fromAlice }, { own: 'true', text: fromBob }] });
    await expect
      .poll(nudgingPanelReader(alicePanel, alice.did), DELIVERY)
      .toMatchObject({ messages: [{ text: fromAlice }, { own: 'false', text: fromBob }] });
    // Both own messages reached their author's repo.
    await expect
      .poll(panelReader(alicePanel, alice.did), POLL)
      .toMatchObject({ messages: [{ own: 'true', status: 'sent' }, { own: 'false' }] });
    await expect
      .poll(panelReader(bobPanel, bob.did), POLL)
      .toMatchObject({ messages: [{ own: 'false' }, { own: 'true', status: 'sent', text: fromBob }] });
    // Shown in both panels, yet not in either bsky.app page around them.
    for (const page of [alicePage, bobPage]) {
      expect(foundTexts(await page.evaluate(pageTextAndMarkup), texts)).toEqual([]);
    }
    await screenshots();
  }, 150_000);

  it('in the group, carol (no extension) is offered an invite, which goes out as a plain DM', async () => {
    needs('bobSignedIn');
    const group = demo.groupConvoId;
    const before = new Set(await net.chat.storedMessages());
    // bob's device goes into the group with one of its key packages (published after sign-in).
    await waitForKeyPackages(network.pdsUrl, bob.did);
    const panel = await openPanelChromium(alicePage, group);
    await expect
      .poll(panelReader(panel, alice.did), POLL)
      .toMatchObject({ status: `Conversation ${group}: encryption off` });
    await panel.getByTestId('panel-encrypt-toggle').click();
    await expect.poll(panelReader(panel, alice.did), POLL).toMatchObject(encryptedAndJoined(group));
    // carol publishes no device: an invite button instead of devices. bob's device is in the group.
    const view = await panelReader(panel, alice.did)();
    expect(view.members.find((m) => m.did === carol.did)).toMatchObject({ withoutExtension: true, devices: 0 });
    expect(view.members.find((m) => m.did === bob.did)?.devices).toBeGreaterThan(0);

    await panel.getByTestId(`panel-invite-${carol.did}`).click();
    await expect.poll(panelReader(panel, alice.did), POLL).toMatchObject({ actionError: null });
    await expect.poll(() => panel.getByTestId(`panel-invite-${carol.did}`).textContent(), POLL).toBe('Invite sent');
    const sent = (await net.chat.storedMessages()).filter((t) => !before.has(t));
    expect(sent).toEqual([expect.stringContaining('atmessaging')]);
    await alicePage.screenshot({ path: shot('alice-group-invite') });
  });

  it("no message text reaches bsky.app's page, the PDS (records and repos) or the chat service", async () => {
    // The top pages of both profiles, whose scripts are bsky.app's (the panel frame is ours).
    for (const page of [alicePage, bobPage]) {
      expect(foundTexts(await page.evaluate(pageTextAndMarkup), texts)).toEqual([]);
    }
    const published: Record<string, number> = {};
    for (const account of [alice, bob]) {
      const events = await eventRecordsJson(network.pdsUrl, account.did);
      published[account.handle] = events.count;
      expect(foundTexts(events.json, texts)).toEqual([]);
      expect(foundTexts(await repoCar(network.pdsUrl, account.did), texts)).toEqual([]);
    }
    const stored = await net.chat.storedMessages();
    expect(stored.flatMap((t) => foundTexts(t, texts))).toEqual([]);
    // The searches above only mean something if the messages were really sent as events.
    expect(published[alice.handle], "events in alice's repo").toBeGreaterThan(0);
    expect(published[bob.handle], "events in bob's repo").toBeGreaterThan(0);
  });
});

import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cachedConversationMembers, chatClient } from '../../src/atproto/chat';
import { chatAgent } from '../../src/atproto/session';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import type { GroupRecord } from '../../src/engine/delivery-state';
import { newTid } from '../../src/engine/tid';
import { chatAsAccount, resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { startReplica, type Replica } from '../net/replica/index';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from '../integration/device-harness';
import { launchChromium, type ChromiumSession } from './browsers';
import {
  configureAndSignInChromium,
  encryptedAndJoined,
  openPanelChromium,
  reloadPanelChromium,
  sendChromium,
  waitForKeyPackages,
  nudgingPanelReader,
  panelReader,
} from './product';

/**
 * A bsky group conversation whose membership changes, through the extension: alice and carol
 * each run it in their own Chromium profile, bob is a Node device (the real engine). alice signs
 * in on a second browser, which must be in the group within a minute; then carol is removed from
 * the conversation, and her device must store nothing sent after, while what alice writes in the
 * meantime waits for the removal instead of reaching her.
 */

const POLL = { timeout: 10_000, interval: 100 };
/** The background reads peers' repos when the PDS firehose wakes it, and every minute anyway. */
const DELIVERY = { timeout: 90_000, interval: 250 };
/**
 * carol's removal waits for the add of alice's second browser to be final (docs/protocol.md
 * §6.7: a removal does not displace a commit that adds devices), 3 minutes, then a review and
 * the committer's turn (up to 4 slots of 15 s here), then delivery.
 */
const REMOVAL = { timeout: 330_000, interval: 500 };

describe('Chromium: a group conversation whose members change, through the extension', () => {
  const network = inject('network');
  const net = attachNetwork(network);
  const chatProxy = `${network.chat.did}#bsky_chat`;
  const run = randomUUID().slice(0, 8);
  const before = `before anyone left ${run}`;
  const afterFromAlice = `alice, after carol left ${run}`;
  const afterFromBob = `bob, after carol left ${run}`;

  let alice: Account;
  let bob: Account;
  let carol: Account;
  let convoId: string;
  let replica: Replica;
  const sessions: ChromiumSession[] = [];
  const dirs: string[] = [];
  let alicePanel: Frame;
  let carolPanel: Frame;
  let carolSession: ChromiumSession;
  let bob1: { device: TestDevice; engine: DeliveryEngine };
  const done = { encrypted: false, secondBrowser: false };
  const needs = (step: keyof typeof done) => expect(done[step], `needs the earlier step "${step}"`).toBe(true);

  async function launch(name: string): Promise<{ session: ChromiumSession; page: Page }> {
    const userDataDir = await mkdtemp(join(tmpdir(), `atm-e2e-membership-${name}-`));
    dirs.push(userDataDir);
    const session = await launchChromium({
      extensionDir: inject('chromeExtensionDir'),
      replicaPort: replica.port,
      headless: inject('headless'),
      userDataDir,
    });
    sessions.push(session);
    return { session, page: session.context.pages()[0] ?? (await session.context.newPage()) };
  }


  /**
   * bob's Node device publishes and reads. Its clock is the test clock: moved on with the wall
   * clock, so that its epochs become final as the browsers' do.
   */
  let wallAt = Date.now();
  async function bobRound(): Promise<void> {
    const now = Date.now();
    clock.advance(now - wallAt);
    wallAt = now;
    await bob1.engine.flush();
    await bob1.engine.poll([alice.did, carol.did]);
    await bob1.engine.maintain();
    await bob1.engine.flush();
  }
  const bobGroup = async (): Promise<GroupRecord | undefined> => (await bob1.engine.groups()).find((g) => g.convoId === convoId);
  const bobTexts = async () => {
    const g = await bobGroup();
    return g ? (await bob1.engine.messages(g.groupId)).map((m) => m.text) : [];
  };

  /** The texts of every message carol's extension stored, read from its IndexedDB by one of its own pages. */
  async function carolStoredTexts(): Promise<string[]> {
    const page = await carolSession.context.newPage();
    try {
      await page.goto(`${carolSession.extensionOrigin}/options.html`);
      return await page.evaluate(
        () =>
          new Promise<string[]>((resolve, reject) => {
            const open = indexedDB.open('atmessaging');
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              const all = open.result.transaction('messages').objectStore('messages').getAll();
              all.onerror = () => reject(all.error);
              all.onsuccess = () => resolve((all.result as Array<{ text: string }>).map((m) => m.text));
            };
          }),
      );
    } finally {
      await page.close();
    }
  }

  beforeAll(async () => {
    [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((n) => net.createAccount(uniqueName(`mem${n}`))))) as [
      Account,
      Account,
      Account,
    ];
    const chat = await chatAsAccount(network.pdsUrl, alice, chatProxy);
    convoId = (await chat.chat.bsky.group.createGroup({ members: [bob.did, carol.did], name: 'Members' })).data.convo.id;
    replica = await startReplica({ convos: [{ id: convoId, title: 'Members' }] });
    const agent = await resumeCreationSession(network.pdsUrl, bob);
    const device = await startDevice('mem-bob1', agent, bob.did, network.plcUrl);
    // As the extension asks: through the PDS proxy, cached for a few minutes (test clock).
    const members = cachedConversationMembers(chatClient(chatAgent({ chatProxy }, agent)), clock);
    const dids = async (id: string, options?: { fresh?: boolean }) => [...(await members(id, options))];
    const { engine } = await deliveryEngineFor(device, `mem-bob1-${newTid()}`, {}, {
      conversationDids: dids,
    });
    bob1 = { device, engine };
  }, 120_000);

  afterAll(async () => {
    const shot = (name: string) => join(inject('resultsDir'), `chromium-membership-${name}.png`);
    for (const [i, s] of sessions.entries()) await s.context.pages()[0]?.screenshot({ path: shot(String(i)) }).catch(() => {});
    await Promise.all(sessions.map((s) => s.close()));
    await replica?.close();
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("alice turns encryption on; carol's extension and bob's device join, and read what is sent", async () => {
    const [a, c] = await Promise.all([launch('alice'), launch('carol')]);
    carolSession = c.session;
    await Promise.all([
      configureAndSignInChromium(a.session.context, a.session.extensionOrigin, network, alice),
      configureAndSignInChromium(c.session.context, c.session.extensionOrigin, network, carol),
    ]);
    await waitForKeyPackages(network.pdsUrl, carol.did);
    alicePanel = await openPanelChromium(a.page, convoId);
    await alicePanel.getByTestId('panel-encrypt-toggle').click({ timeout: POLL.timeout });
    await expect.poll(panelReader(alicePanel, alice.did), DELIVERY).toMatchObject(encryptedAndJoined(convoId));

    carolPanel = await openPanelChromium(c.page, convoId);
    await expect.poll(nudgingPanelReader(carolPanel, carol.did), DELIVERY).toMatchObject(encryptedAndJoined(convoId));
    await expect.poll(async () => (await bobRound(), (await bobGroup())?.active), DELIVERY).toBe(true);

    await sendChromium(alicePanel, before);
    await expect.poll(nudgingPanelReader(carolPanel, carol.did), DELIVERY).toMatchObject({ messages: [{ own: 'false', text: before }] });
    await expect.poll(async () => (await bobRound(), await bobTexts()), DELIVERY).toContain(before);
    done.encrypted = true;
  }, 240_000);

  it("alice's second browser is in the group within a minute of signing in", async () => {
    needs('encrypted');
    const a2 = await launch('alice2');
    await configureAndSignInChromium(a2.session.context, a2.session.extensionOrigin, network, alice);
    const signedInAt = Date.now();
    const panel = await openPanelChromium(a2.page, convoId);
    // In the group: the panel lists alice's two devices (only a member sees the group's leaves)
    // and offers the composer.
    const aliceDevices = async () => {
      await bobRound();
      const view = await nudgingPanelReader(panel, alice.did)();
      return { composer: view.composer, devices: view.members.find((m) => m.did === alice.did)?.devices ?? 0 };
    };
    await expect.poll(aliceDevices, { timeout: 60_000, interval: 500 }).toEqual({ composer: true, devices: 2 });
    console.log(`[membership] alice's second browser was in the group ${Date.now() - signedInAt} ms after signing in`);
    done.secondBrowser = true;
  }, 120_000);

  it('carol is removed from the conversation: what alice and bob write meanwhile waits, and her device stores nothing sent after', async () => {
    needs('secondBrowser');
    const owner = await chatAsAccount(network.pdsUrl, alice, chatProxy);
    await owner.chat.bsky.group.removeMembers({ convoId, members: [carol.did] });
    // Both write at once: every send asks the chat service who is in the conversation.
    await sendChromium(alicePanel, afterFromAlice);
    await bob1.engine.sendToConversation(convoId, afterFromBob);
    const own = async () => (await panelReader(alicePanel, alice.did)()).messages.find((m) => m.text === afterFromAlice);
    expect((await own())?.status, 'held while carol is in the group').not.toBe('sent');

    // alice's extension commits the removal once the add before it is final; both messages go
    // out after it, and reach bob and alice.
    await expect.poll(async () => (await bobRound(), await bobTexts()), REMOVAL).toEqual(expect.arrayContaining([afterFromAlice, afterFromBob]));
    expect((await bobGroup())!.memberDids).not.toContain(carol.did);
    await expect.poll(nudgingPanelReader(alicePanel, alice.did), DELIVERY).toMatchObject({
      messages: expect.arrayContaining([
        expect.objectContaining({ own: 'true', status: 'sent', text: afterFromAlice }),
        expect.objectContaining({ own: 'false', text: afterFromBob }),
      ]),
    });

    // carol's device, read from its own store (not only its panel): what came before, nothing after.
    await reloadPanelChromium(carolPanel);
    const stored = await carolStoredTexts();
    expect(stored).toContain(before);
    expect(stored.filter((t) => t === afterFromAlice || t === afterFromBob)).toEqual([]);
    const shown = (await panelReader(carolPanel, carol.did)()).messages.map((m) => m.text);
    expect(shown.filter((t) => t === afterFromAlice || t === afterFromBob)).toEqual([]);
  }, REMOVAL.timeout + 60_000);
});

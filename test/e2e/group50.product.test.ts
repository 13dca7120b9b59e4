import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { toHex } from '../../src/bytes';
import { cachedConversationMembers, chatClient } from '../../src/atproto/chat';
import { chatAgent } from '../../src/atproto/session';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';
import type { GroupRecord } from '../../src/engine/delivery-state';
import { DEFAULT_POOL_POLICY } from '../../src/engine/key-package-pool';
import { newTid } from '../../src/engine/tid';
import { decodeGroupState, epochAuthenticator, members } from '../../src/mls';
import { didOfIdentity } from '../../src/protocol/device-uri';
import { expectUnreadableAfter } from '../integration/unreadable';
import { chatAsAccount, resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { startReplica, type Replica } from '../net/replica/index';
import { clock, deliveryEngineFor, shell, startDevice, type TestDevice } from '../integration/device-harness';
import { launchChromium, type ChromiumSession } from './browsers';
import {
  configureAndSignInChromium,
  NUDGE_MS,
  openPanelChromium,
  pageTextAndMarkup,
  foundTexts,
  panelSnapshot,
  panelSummary,
  reloadPanelChromium,
  sendChromium,
} from './product';

/**
 * Fifty through the extension: a 50-member chat.bsky group conversation whose owner
 * runs the real extension in Chromium and whose 49 other members are Node devices (the real
 * engine over fake-indexeddb, talking to the same local PDS, PLC and chat stand-in). The owner
 * turns encryption on in the panel (a progress bar shows how far that got), everyone joins,
 * messages go both ways; then the owner removes two people and one leaves, a member commits the
 * change, and what is sent after is read by those who stay and by no one who went.
 */

const SIZE = 50;
const POLL = { timeout: 10_000, interval: 100 };
/**
 * The background reads peers' repos when the PDS firehose wakes it, and every minute anyway; a
 * round reads 50 repos, which on a loaded shared 2-core machine can take minutes (bounds only:
 * an unloaded run waits seconds).
 */
const DELIVERY = { timeout: 180_000, interval: 250 };
/** Node rounds (49 devices, each reading up to 50 repos), on the same machine. */
const NODE_ROUNDS_MS = 240_000;

interface NodeMember {
  account: Account;
  device: TestDevice;
  engine: DeliveryEngine;
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)))));
  }
  return out;
}

/** Repeats `round` until `done` holds; a timeout says what `describe` last reported. */
async function until(what: string, round: () => Promise<void>, done: () => Promise<boolean>, describe: () => Promise<string>) {
  const deadline = Date.now() + NODE_ROUNDS_MS;
  for (;;) {
    await round();
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${NODE_ROUNDS_MS} ms; ${await describe()}`);
  }
}

describe(`Chromium: a ${SIZE}-member bsky group conversation through the extension`, () => {
  const network = inject('network');
  const net = attachNetwork(network);
  const chatProxy = `${network.chat.did}#bsky_chat`;
  const run = randomUUID().slice(0, 8);
  const fromNode = `hello from a node member ${run}`;
  const fromPanel = `hello from the panel ${run}`;
  const afterNode = `after the removals, from a node member ${run}`;
  const afterPanel = `after the removals, from the panel ${run}`;
  const texts = [fromNode, fromPanel, afterNode, afterPanel];

  let owner: Account;
  let nodes: NodeMember[];
  let convoId: string;
  let replica: Replica | undefined;
  let session: ChromiumSession | undefined;
  let userDataDir: string | undefined;
  let page: Page;
  let panel: Frame;
  const done = { encrypted: false, joined: false, talked: false };
  const needs = (step: keyof typeof done) => expect(done[step], `needs the earlier step "${step}"`).toBe(true);

  const summary = async () => panelSummary(await panel.evaluate(panelSnapshot), owner.did);
  /** A summary that reloads the panel now and then while a delivery is awaited. */
  function nudging() {
    let last = Date.now();
    return async () => {
      if (Date.now() - last > NUDGE_MS) {
        last = Date.now();
        await reloadPanelChromium(panel);
      }
      return summary();
    };
  }

  // The Node members share one Authentication Service cache: each would otherwise prove all 50
  // members' devices against the PDS on joining (2,450 proofs) at no gain for this test, whose
  // subject is the extension (which proves every member itself).
  const nodeShell = shell(network.plcUrl);

  const chatAs = (account: Account) => chatAsAccount(network.pdsUrl, account, chatProxy);

  async function nodeMember(account: Account, index: number): Promise<NodeMember> {
    const agent = await resumeCreationSession(network.pdsUrl, account);
    // A small pool: 49 devices publish theirs before the test starts; one package is used.
    const device = await startDevice(`g50-${index}`, agent, account.did, network.plcUrl, { ...DEFAULT_POOL_POLICY, oneTime: 2 }, nodeShell);
    // As the extension asks: through the PDS proxy, cached for a few minutes (test clock).
    const cached = cachedConversationMembers(chatClient(chatAgent({ chatProxy }, agent)), clock);
    const dids = async (id: string) => [...(await cached(id))];
    const { engine } = await deliveryEngineFor(device, `g50-${index}-${newTid()}`, {}, {
      conversationDids: dids,
    });
    return { account, device, engine };
  }

  const groupOf = async (m: NodeMember): Promise<GroupRecord | undefined> =>
    (await m.engine.groups()).find((g) => g.convoId === convoId);
  const authenticatorOf = async (m: NodeMember) => {
    const g = await groupOf(m);
    return g?.active ? toHex(epochAuthenticator(decodeGroupState(m.device.mls, g.state))) : undefined;
  };
  const textsOf = async (m: NodeMember) => {
    const g = await groupOf(m);
    return g ? (await m.engine.messages(g.groupId)).map((x) => x.text) : [];
  };
  /** Every Node member publishes what it has and reads what is new (joins, messages, commits). */
  async function nodeRound(who: readonly NodeMember[]): Promise<void> {
    await inBatches(who, 10, async (m) => {
      await m.engine.flush();
      await m.engine.poll([owner.did]);
      await m.engine.flush();
    });
  }

  beforeAll(async () => {
    const accounts = await inBatches(
      Array.from({ length: SIZE }, (_, i) => i),
      10,
      (i) => net.createAccount(uniqueName(`g50m${i}`)),
    );
    owner = accounts[0]!;
    const convo = await (await chatAs(owner)).chat.bsky.group.createGroup({
      members: accounts.slice(1).map((a) => a.did),
      name: 'Fifty',
    });
    convoId = convo.data.convo.id;
    // bsky.app's DM screen for this conversation: a replica of our own, so the shared one (and
    // the demo conversations other files use) stays as it is.
    replica = await startReplica({ convos: [{ id: convoId, title: 'Fifty' }] });
    userDataDir = await mkdtemp(join(tmpdir(), 'atm-e2e-group50-'));
    const browser = (async () => {
      session = await launchChromium({
        extensionDir: inject('chromeExtensionDir'),
        replicaPort: replica!.port,
        headless: inject('headless'),
        userDataDir: userDataDir!,
      });
      page = session.context.pages()[0] ?? (await session.context.newPage());
      await configureAndSignInChromium(session.context, session.extensionOrigin, network, owner);
    })();
    const devices = inBatches(accounts.slice(1), 10, (account, i) => nodeMember(account, i + 1));
    const [, made] = await Promise.all([browser, devices]);
    nodes = made;
  }, 300_000);

  afterAll(async () => {
    if (page) await page.screenshot({ path: join(inject('resultsDir'), 'chromium-group50.png') }).catch(() => {});
    await session?.close();
    await replica?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it('the owner turns encryption on: a progress bar shows how far it got, and all 50 people are in the group', async () => {
    panel = await openPanelChromium(page, convoId);
    await expect.poll(summary, POLL).toMatchObject({ status: `Conversation ${convoId}: encryption off`, signedOut: false });
    // Every state of the progress bar, as the panel rendered it (self-contained: runs in the frame).
    await panel.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { atmProgressSeen: string[] }).atmProgressSeen = seen;
      new MutationObserver(() => {
        const bar = document.querySelector('[role="progressbar"]');
        if (!bar) return;
        const text = document.querySelector('[data-testid="panel-progress-text"]')?.textContent ?? '';
        const entry = `${bar.getAttribute('aria-valuenow')}/${bar.getAttribute('aria-valuemax')} ${text}`;
        if (seen[seen.length - 1] !== entry) seen.push(entry);
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    const started = Date.now();
    await panel.getByTestId('panel-encrypt-toggle').click();
    await expect
      .poll(summary, { timeout: 120_000, interval: 250 })
      // `joined` (the owner's own device listed in the group) waits for the panel's re-read: the
      // status line turns on from the status event itself, before that re-read answers, and
      // until then the members list is the one read before the group existed (0 devices each).
      .toMatchObject({ status: `Conversation ${convoId}: encryption on`, composer: true, failure: null, joined: true });
    console.log(`[group50] turning encryption on for ${SIZE} people took ${Date.now() - started} ms`);

    const seen = await panel.evaluate(() => (window as unknown as { atmProgressSeen: string[] }).atmProgressSeen);
    // Looking up people's devices, counted up to all 50 (this device's own account included)...
    const devices = seen.map((e) => /^(\d+)\/(\d+) Adding devices: (\d+) of (\d+)$/.exec(e)).filter((m) => m !== null);
    expect(devices.length, `progress seen: ${JSON.stringify(seen)}`).toBeGreaterThan(1);
    for (const m of devices) {
      expect(m[2]).toBe(String(SIZE));
      expect(m[1]).toBe(m[3]);
      expect(m[4]).toBe(String(SIZE));
    }
    const counts = devices.map((m) => Number(m[1]));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(SIZE);
    // ...then one invite per Node device.
    expect(seen).toContain(`${SIZE - 1}/${SIZE - 1} Preparing invites: ${SIZE - 1} of ${SIZE - 1}`);
    // Gone when the work is done.
    expect(await panel.locator('[role="progressbar"]').count()).toBe(0);

    // The members list: all 50 people, each with their device in the encrypted group.
    const view = await summary();
    expect(view.members).toHaveLength(SIZE);
    expect(view.members.filter((m) => m.devices === 1).map((m) => m.did).sort()).toEqual([owner.did, ...nodes.map((n) => n.account.did)].sort());
    done.encrypted = true;
  }, 150_000);

  it('every Node member joins from its invite, into the same epoch', async () => {
    needs('encrypted');
    await until(
      'Node members joining',
      () => nodeRound(nodes),
      async () => (await Promise.all(nodes.map(groupOf))).every((g) => g?.active),
      async () => `${(await Promise.all(nodes.map(groupOf))).filter((g) => g?.active).length} of ${nodes.length} joined`,
    );
    const authenticators = new Set(await Promise.all(nodes.map(authenticatorOf)));
    expect(authenticators.size).toBe(1);
    const state = decodeGroupState(nodes[0]!.device.mls, (await groupOf(nodes[0]!))!.state);
    expect(members(state)).toHaveLength(SIZE);
    done.joined = true;
  }, NODE_ROUNDS_MS + 30_000);

  it('a Node member writes and the panel shows it; the panel writes and every Node member reads it', async () => {
    needs('joined');
    await nodes[0]!.engine.sendToConversation(convoId, fromNode);
    await nodes[0]!.engine.flush();
    await expect.poll(nudging(), DELIVERY).toMatchObject({ messages: [{ own: 'false', text: fromNode }] });

    await sendChromium(panel, fromPanel);
    await expect
      .poll(summary, DELIVERY)
      .toMatchObject({ sendError: null, messages: [{ text: fromNode }, { own: 'true', status: 'sent', text: fromPanel }] });
    await until(
      'Node members reading the panel',
      () => nodeRound(nodes),
      async () => (await Promise.all(nodes.map(textsOf))).every((t) => t.includes(fromPanel)),
      async () => `${(await Promise.all(nodes.map(textsOf))).filter((t) => t.includes(fromPanel)).length} of ${nodes.length} read it`,
    );
    // Every Node member read the other Node member's message too.
    for (const m of nodes) expect(await textsOf(m)).toContain(fromNode);
    done.talked = true;
  }, DELIVERY.timeout * 2 + NODE_ROUNDS_MS + 30_000);

  it('the owner removes two people and one leaves: after the commit, the removed read nothing sent', async () => {
    needs('talked');
    const removed = nodes.slice(-3, -1);
    const leaver = nodes.at(-1)!;
    const gone = [...removed, leaver];
    const staying = nodes.filter((m) => !gone.includes(m));
    const groupId = (await groupOf(staying[0]!))!.groupId;
    await (await chatAs(owner)).chat.bsky.group.removeMembers({ convoId, members: removed.map((m) => m.account.did) });
    await (await chatAs(leaver.account)).chat.bsky.convo.leaveConvo({ convoId });
    const mark = newTid();

    // One staying Node member commits the change (§6.9): its cached member list expires, it
    // notices who went, and once its turn has come (the test clock moves, not the wall clock)
    // it removes all three in one commit. The extension's own review would find the same later.
    const committer = staying[0]!;
    const goneDids = new Set(gone.map((m) => m.account.did));
    const committerDids = async () =>
      new Set(members(decodeGroupState(committer.device.mls, (await groupOf(committer))!.state)).map((m) => didOfIdentity(m.identity)));
    for (let pass = 0; pass < 3; pass++) {
      clock.advance(DEFAULT_DELIVERY_POLICY.membershipReviewMs + 6 * 60_000);
      await committer.engine.poll([owner.did]); // the read after which its epoch is final (§6.7)
      await committer.engine.maintain();
      clock.advance(SIZE * DEFAULT_DELIVERY_POLICY.staggerSlotMs + 1);
      await committer.engine.maintain();
      await committer.engine.flush();
      const now = await committerDids();
      if ([...goneDids].every((did) => !now.has(did))) break;
    }
    const after = await committerDids();
    expect([...goneDids].filter((did) => after.has(did))).toEqual([]);
    expect(after.size).toBe(SIZE - gone.length);

    // Everyone processes the commit: the staying move to its epoch, the gone learn they are out.
    const expected = await authenticatorOf(committer);
    await until(
      'Node members applying the removal',
      () => nodeRound(nodes),
      async () =>
        (await Promise.all(staying.map(authenticatorOf))).every((a) => a === expected) &&
        (await Promise.all(gone.map(groupOf))).every((g) => g?.active === false),
      async () => `${(await Promise.all(staying.map(authenticatorOf))).filter((a) => a === expected).length} of ${staying.length} staying moved on`,
    );

    // A staying member writes in the new epoch. The panel can only show it once the extension
    // applied the commit too (its keys are those of the epoch after the removal).
    await staying[1]!.engine.sendText(groupId, afterNode);
    await staying[1]!.engine.flush();
    await expect.poll(nudging(), DELIVERY).toMatchObject({ messages: [{ text: fromNode }, { text: fromPanel }, { own: 'false', text: afterNode }] });
    await sendChromium(panel, afterPanel);
    // (Listed by send time: the Node member's clock was moved ahead, so its message sorts last.)
    await expect.poll(summary, DELIVERY).toMatchObject({
      sendError: null,
      messages: expect.arrayContaining([expect.objectContaining({ own: 'true', status: 'sent', text: afterPanel })]),
    });
    // The panel lists the 47 people left, each with their device in the group.
    const view = await summary();
    expect(view.members).toHaveLength(SIZE - gone.length);
    expect(view.members.every((m) => m.devices === 1)).toBe(true);

    await until(
      'staying Node members reading after the removal',
      () => nodeRound(nodes),
      async () => (await Promise.all(staying.map(textsOf))).every((t) => t.includes(afterPanel) && t.includes(afterNode)),
      async () => `${(await Promise.all(staying.map(textsOf))).filter((t) => t.includes(afterPanel)).length} of ${staying.length} read it`,
    );
    // The gone read one more round and get nothing of either message...
    await nodeRound(gone);
    for (const m of gone) {
      const theirs = await textsOf(m);
      expect(theirs).toContain(fromPanel);
      expect(theirs.filter((t) => t === afterNode || t === afterPanel)).toEqual([]);
    }
    // ...and every event published after the removal fails to open with every epoch key they kept.
    let tried = 0;
    for (const m of gone) {
      const authors = [owner.did, staying[1]!.account.did];
      tried += (await expectUnreadableAfter(m.device.publicRepos, (await groupOf(m))!, authors, mark)).attempts;
    }
    // At least the two messages were tried by each of the three.
    expect(tried).toBeGreaterThanOrEqual(gone.length * 2);

    // Shown in the panel, never in bsky.app's page around it.
    expect(foundTexts(await page.evaluate(pageTextAndMarkup), texts)).toEqual([]);
  }, 2 * DELIVERY.timeout + 2 * NODE_ROUNDS_MS + 120_000);
});

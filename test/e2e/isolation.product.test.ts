import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AtpAgent } from '@atproto/api';
import { chromium, type CDPSession, type Frame, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';
import type { GroupRecord } from '../../src/engine/delivery-state';
import { newTid } from '../../src/engine/tid';
import { decodeGroupState, generateKeyPackage, generateSignatureKeyPair, members } from '../../src/mls';
import { expectUnreadableAfter } from '../integration/unreadable';
import { METHODS } from '../../src/rpc/methods';
import {
  DEVICE,
  DEVICE_COLLECTION_NSID,
  KEY_PACKAGE,
  KEY_PACKAGE_COLLECTION_NSID,
  parseRecord,
  recordJson,
  type DeviceRecord,
  type KeyPackageRecord,
} from '../../src/protocol/records';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { CHAT_SERVICE_ID } from '../net/chat-constants';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from '../integration/device-harness';
import { chromiumArgs, launchChromium, type ChromiumSession } from './browsers';
import {
  contentScriptProbe,
  extensionPortProbe,
  frameOurPage,
  installPageSpy,
  pageEverything,
  panelDeviceUris,
  panelMessageTexts,
  postCraftedMessages,
  probePageReach,
  readContentScriptSpy,
  readPageSpy,
  realPanelSrc,
  removeOurFrames,
  type OurFrameArgs,
} from './isolation-probes';
import { panelText } from './page-probes';
import { configureAndSignInChromium, foundTexts, NUDGE_MS, openPanelChromium, reloadPanelChromium, sendChromium } from './product';
import { expectPanelAnswers, expectRefused, PANEL_PROBE, refusedFrameProbe, rogueFrames } from './surfaces';

const POLL = { timeout: 15_000, interval: 100 };
const DELIVERY = { timeout: 60_000, interval: 250 };
const SMALL_POOL = {
  oneTime: 2,
  lastResort: 1,
  lifetimeMs: 30 * 24 * 3600_000,
  renewBeforeMs: 0,
  graceMs: 0,
  consumedGraceMs: 0,
};

/** A device driven from Node (test/integration/device-harness.ts): the same engine, no browser. */
interface NodeDevice {
  name: string;
  account: Account;
  device: TestDevice;
  engine: DeliveryEngine;
}

async function nodeDevice(name: string, account: Account, agent: AtpAgent, plcUrl: string): Promise<NodeDevice> {
  const device = await startDevice(name, agent, account.did, plcUrl, SMALL_POOL);
  const { engine } = await deliveryEngineFor(device, `isolation-${name}-${newTid()}`);
  return { name, account, device, engine };
}

/** A Node device publishes what it has and reads everyone it knows once. */
async function round(d: NodeDevice, contacts: readonly string[]): Promise<void> {
  await d.engine.flush();
  await d.engine.poll(contacts);
  await d.engine.flush();
}

const groupOf = async (d: NodeDevice, groupId?: string): Promise<GroupRecord | undefined> =>
  (await d.engine.groups()).find((g) => (groupId ? g.groupId === groupId : g.active));
const leafUris = (d: NodeDevice, g: GroupRecord) => members(decodeGroupState(d.device.mls, g.state)).map((m) => m.identity).sort();
const nodeTexts = async (d: NodeDevice, groupId: string) => (await d.engine.messages(groupId)).map((m) => m.text);

/**
 * The extension's content script runs in an isolated world of bsky.app's page. Playwright does
 * not expose that world, but the DevTools protocol does: `Runtime.enable` reports every execution
 * context, and the content script's is the one whose origin is our extension's. Code evaluated
 * there is the content script's peer: same `chrome.runtime`, same port sender as the browser
 * reports it to the background.
 */
async function contentScriptWorld(page: Page, extensionOrigin: string) {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  const contexts: Array<{ id: number; origin: string; name: string; auxData?: { frameId?: string; isDefault?: boolean } }> = [];
  cdp.on('Runtime.executionContextCreated', (e) => contexts.push(e.context));
  cdp.on('Runtime.executionContextDestroyed', (e) => {
    const i = contexts.findIndex((c) => c.id === e.executionContextId);
    if (i >= 0) contexts.splice(i, 1);
  });
  await cdp.send('Runtime.enable');
  const { frameTree } = await cdp.send('Page.getFrameTree');
  const mainFrame = frameTree.frame.id;
  const find = () =>
    contexts.find((c) => c.origin === extensionOrigin && c.auxData?.frameId === mainFrame && c.auxData?.isDefault === false);
  await expect.poll(() => find() !== undefined, POLL).toBe(true);
  return {
    description: () => find(),
    async evaluate<A, R>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> {
      const ctx = find();
      if (!ctx) throw new Error('the content script world is gone');
      const out = await cdp.send('Runtime.evaluate', {
        expression: `(${fn.toString()})(${JSON.stringify(arg)})`,
        contextId: ctx.id,
        awaitPromise: true,
        returnByValue: true,
      });
      if (out.exceptionDetails) throw new Error(`in the content script world: ${JSON.stringify(out.exceptionDetails)}`);
      return out.result.value as R;
    },
    detach: () => cdp.detach().catch(() => {}),
  };
}

/** A frame `frameOurPage` made, once our page has loaded in it. */
async function ourFrameChromium(page: Page, rogue: OurFrameArgs): Promise<Frame> {
  const outer = await (await page.locator(`#${rogue.id}`).elementHandle({ timeout: POLL.timeout }))?.contentFrame();
  const frame = rogue.nested ? await (await outer?.locator('iframe').elementHandle({ timeout: POLL.timeout }))?.contentFrame() : outer;
  if (!frame) throw new Error(`no frame for ${rogue.id}`);
  await expect.poll(() => frame.evaluate(() => location.href).catch(() => ''), POLL).toBe(rogue.src);
  return frame;
}

/**
 * Isolation, in Chromium with the real extension on the real local PDS: what bsky.app's
 * page scripts, the content script's world, forged device records and a revoked device can get.
 * alice runs the extension in Chromium; her second device (alice2) and bob's device are driven
 * from Node, so one browser suffices. Fresh accounts: the demo accounts of other files stay as
 * they were.
 */
describe('Chromium: isolation and access', () => {
  const network = inject('network');
  const net = attachNetwork(network);
  const shot = (name: string) => join(inject('resultsDir'), `chromium-isolation-${name}.png`);
  const run = randomUUID().slice(0, 8);
  const fromAlice = `alice to bob, for bob only ${run}`;
  const fromBob = `bob to alice, for alice only ${run}`;
  const crafted = `posted into the panel by the page ${run}`;
  const fromContentScript = `sent by a content script ${run}`;
  const afterRevocation = `alice after alice2 was revoked ${run}`;
  const bobAfterRevocation = `bob after alice2 was revoked ${run}`;
  const secrets = () => [fromAlice, fromBob, crafted, fromContentScript, afterRevocation, bobAfterRevocation];

  let alice: Account;
  let bob: Account;
  let aliceAgent: AtpAgent;
  let bobAgent: AtpAgent;
  let alice2: NodeDevice;
  let bob1: NodeDevice;
  let convoId: string;
  let session: ChromiumSession;
  let page: Page;
  let panel: Frame;
  let aliceDeviceUri: string;
  let groupId: string;
  let userDataDir: string;
  let cs: Awaited<ReturnType<typeof contentScriptWorld>> | undefined;
  /** bob's repo holds these besides bob1's real device: none may become a member. */
  const forged: Record<'mismatched' | 'otherDid' | 'deleted', string> = { mismatched: '', otherDid: '', deleted: '' };
  const done = { joined: false, exchanged: false };
  const needs = (step: keyof typeof done) => expect(done[step], `needs the earlier step "${step}"`).toBe(true);

  /** Forged "devices" of bob, each with a well-formed, validly self-signed key package. */
  async function forgeDevices(): Promise<void> {
    const mls = bob1.device.mls;
    const putDevice = async (rkey: string, signatureKey: Uint8Array) =>
      bobAgent.com.atproto.repo.putRecord({
        repo: bob.did,
        collection: DEVICE_COLLECTION_NSID,
        rkey,
        record: recordJson(
          DEVICE,
          DEVICE.$build({
            signatureKey,
            inviteKey: crypto.getRandomValues(new Uint8Array(32)),
            cipherSuites: [1],
            createdAt: new Date().toISOString() as DeviceRecord['createdAt'],
          }),
        ) as Record<string, unknown>,
      });
    const putPackage = async (device: string, identity: string, pair: Awaited<ReturnType<typeof generateSignatureKeyPair>>) => {
      const kp = await generateKeyPackage(mls, { identity, signatureKeyPair: pair });
      await bobAgent.com.atproto.repo.putRecord({
        repo: bob.did,
        collection: KEY_PACKAGE_COLLECTION_NSID,
        rkey: newTid(),
        record: recordJson(
          KEY_PACKAGE,
          KEY_PACKAGE.$build({
            keyPackage: kp.encoded,
            device,
            cipherSuite: 1,
            createdAt: new Date().toISOString() as KeyPackageRecord['createdAt'],
            expiresAt: new Date(kp.lifetime.notAfter).toISOString() as KeyPackageRecord['expiresAt'],
            lastResort: false,
          }),
        ) as Record<string, unknown>,
      });
    };
    // 1. Mismatched: the record holds one key, the package's leaf is signed with another.
    forged.mismatched = newTid();
    const recordKey = await generateSignatureKeyPair(mls.suite);
    const leafKey = await generateSignatureKeyPair(mls.suite);
    await putDevice(forged.mismatched, recordKey.publicKey);
    await putPackage(forged.mismatched, `at://${bob.did}/${DEVICE_COLLECTION_NSID}/${forged.mismatched}`, leafKey);
    // 2. Another DID: filed under a real device record of bob's, its credential names a record
    //    under alice's DID (so, if believed, bob's repo would speak for alice).
    forged.otherDid = newTid();
    const otherKey = await generateSignatureKeyPair(mls.suite);
    await putDevice(forged.otherDid, otherKey.publicKey);
    await putPackage(forged.otherDid, `at://${alice.did}/${DEVICE_COLLECTION_NSID}/${forged.otherDid}`, otherKey);
    // 3. Deleted: a complete, genuine device and package, then the device record is deleted
    //    (revoked) while its key package stays published.
    forged.deleted = newTid();
    const deletedKey = await generateSignatureKeyPair(mls.suite);
    await putDevice(forged.deleted, deletedKey.publicKey);
    await putPackage(forged.deleted, `at://${bob.did}/${DEVICE_COLLECTION_NSID}/${forged.deleted}`, deletedKey);
    await bobAgent.com.atproto.repo.deleteRecord({ repo: bob.did, collection: DEVICE_COLLECTION_NSID, rkey: forged.deleted });
  }

  /** Reads alice's panel, reloading it now and then (the worker may have dropped a push). */
  async function waitForPanel<T>(read: () => Promise<T>, ready: (v: T) => boolean, what: string, timeoutMs = DELIVERY.timeout) {
    const deadline = Date.now() + timeoutMs;
    let nudged = Date.now();
    for (;;) {
      const value = await read();
      if (ready(value)) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last ${JSON.stringify(value)}`);
      // Node devices publish and read while the browser is waited for.
      await round(bob1, [alice.did]);
      if (Date.now() - nudged > NUDGE_MS) {
        nudged = Date.now();
        await reloadPanelChromium(panel);
      } else {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /** bob1 reads until `ready` holds on its messages of the group. */
  async function waitForBob(ready: (texts: string[]) => boolean, what: string): Promise<string[]> {
    const deadline = Date.now() + DELIVERY.timeout;
    for (;;) {
      await round(bob1, [alice.did]);
      const texts = await nodeTexts(bob1, groupId);
      if (ready(texts)) return texts;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${DELIVERY.timeout} ms; bob1 has ${JSON.stringify(texts)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  beforeAll(async () => {
    [alice, bob] = await Promise.all([net.createAccount(uniqueName('isoalice')), net.createAccount(uniqueName('isobob'))]);
    [aliceAgent, bobAgent] = await Promise.all([
      resumeCreationSession(network.pdsUrl, alice),
      resumeCreationSession(network.pdsUrl, bob),
    ]);
    [alice2, bob1] = await Promise.all([
      nodeDevice('iso-alice2', alice, aliceAgent, network.plcUrl),
      nodeDevice('iso-bob1', bob, bobAgent, network.plcUrl),
    ]);
    await forgeDevices();
    const chat = aliceAgent.withProxy(CHAT_SERVICE_ID, network.chat.did);
    convoId = (await chat.chat.bsky.convo.getConvoForMembers({ members: [alice.did, bob.did] })).data.convo.id;
    userDataDir = await mkdtemp(join(tmpdir(), 'atm-e2e-isolation-'));
    session = await launchChromium({
      extensionDir: inject('chromeExtensionDir'),
      replicaPort: inject('replicaPort'),
      headless: inject('headless'),
      userDataDir,
    });
    // A hostile bsky.app script, there from the first byte of every page load (main world).
    await session.context.addInitScript(installPageSpy);
    page = session.context.pages()[0] ?? (await session.context.newPage());
  });

  afterAll(async () => {
    if (page) await page.screenshot({ path: shot('last') }).catch(() => {});
    await cs?.detach();
    await session?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it('a forged, mismatched or deleted device record never becomes a member: the group is alice, alice2 and bob1', async () => {
    await configureAndSignInChromium(session.context, session.extensionOrigin, network, alice);
    panel = await openPanelChromium(page, convoId);
    // The content script's world, attached before anything is encrypted: it listens on its
    // own port to the background for the whole conversation (see the content-script test).
    cs = await contentScriptWorld(page, session.extensionOrigin);
    expect(await cs.evaluate(contentScriptProbe, { kind: 'listen' })).toMatchObject({ listening: true });

    await panel.getByTestId('panel-encrypt-toggle').click();
    await expect.poll(() => panel.evaluate(() => document.querySelector('[data-testid="panel-status"]')?.textContent), POLL).toBe(
      `Conversation ${convoId}: encryption on`,
    );
    // bob1 and alice2 find their stealth invites in alice's repo and join.
    const deadline = Date.now() + DELIVERY.timeout;
    let bobGroup: GroupRecord | undefined;
    let alice2Group: GroupRecord | undefined;
    while (!(bobGroup && alice2Group)) {
      if (Date.now() > deadline) throw new Error(`Node devices did not join: bob1 ${!!bobGroup}, alice2 ${!!alice2Group}`);
      await Promise.all([round(bob1, [alice.did]), round(alice2, [alice.did])]);
      [bobGroup, alice2Group] = await Promise.all([groupOf(bob1), groupOf(alice2)]);
      if (!(bobGroup && alice2Group)) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    groupId = bobGroup.groupId;
    expect(alice2Group.groupId).toBe(groupId);
    expect(bobGroup.convoId).toBe(convoId);

    // The group's leaves as a member reads them from the MLS state: exactly the three real devices.
    const leaves = leafUris(bob1, bobGroup);
    aliceDeviceUri = leaves.find((u) => u.startsWith(`at://${alice.did}/`) && u !== alice2.device.device.uri) ?? '';
    expect(aliceDeviceUri).toMatch(new RegExp(`^at://${alice.did}/${DEVICE_COLLECTION_NSID}/\\w{13}$`));
    expect(leaves).toEqual([aliceDeviceUri, alice2.device.device.uri, bob1.device.device.uri].sort());
    for (const rkey of Object.values(forged)) expect(leaves.join(' ')).not.toContain(rkey);
    // The forged records were really there to be tried: two device records, three packages.
    const bobDevices = await bob1.device.publicRepos.listRecords(bob.did, DEVICE_COLLECTION_NSID, { max: 100 });
    expect(bobDevices.map((r) => r.rkey).sort()).toEqual([bob1.device.device.rkey, forged.mismatched, forged.otherDid].sort());
    const bobPackages = await bob1.device.publicRepos.listRecords(bob.did, KEY_PACKAGE_COLLECTION_NSID, { max: 100 });
    const filedUnder = bobPackages.map((r) => parseRecord(KEY_PACKAGE, r.value, r.uri).device);
    for (const rkey of Object.values(forged)) expect(filedUnder).toContain(rkey);

    // What alice's panel lists: her two devices and bob's one.
    const listed = await waitForPanel(
      () => panel.evaluate(panelDeviceUris),
      (d) => (d[alice.did]?.length ?? 0) === 2 && (d[bob.did]?.length ?? 0) === 1,
      "alice's panel listing the group's devices",
    );
    expect(listed[bob.did]).toEqual([bob1.device.device.uri]);
    expect([...(listed[alice.did] ?? [])].sort()).toEqual([aliceDeviceUri, alice2.device.device.uri].sort());
    done.joined = true;
  }, 120_000);

  it('a bsky.app page script sees no plaintext: not in the DOM, the open shadow root, its observers or message events', async () => {
    needs('joined');
    await sendChromium(panel, fromAlice);
    expect(await waitForBob((t) => t.includes(fromAlice), 'bob1 reading alice')).toContain(fromAlice);
    await bob1.engine.sendText(groupId, fromBob);
    await waitForPanel(() => panel.evaluate(panelMessageTexts), (t) => t.includes(fromBob), "alice's panel showing bob's message");
    done.exchanged = true;

    // The panel shows both texts, so there was plaintext to leak.
    expect(await panel.evaluate(panelMessageTexts)).toEqual(expect.arrayContaining([fromAlice, fromBob]));
    const spy = await page.evaluate(readPageSpy);
    expect(spy?.installed).toBe(true);
    // The spy could see into our host's open shadow root (it saw the toggle there) and hear
    // message events (one the page posts to itself): it was able to see a leak.
    expect(spy!.shadowRootsObserved).toBeGreaterThanOrEqual(1);
    expect(spy!.seen.join('\n')).toContain('data-testid="atm-toggle"');
    await page.evaluate(() => window.postMessage({ probe: 'page to itself' }, '*'));
    await expect.poll(async () => (await page.evaluate(readPageSpy))!.messages.join('\n'), POLL).toContain('page to itself');

    const after = (await page.evaluate(readPageSpy))!;
    expect(foundTexts(after.seen.join('\n'), [fromAlice, fromBob])).toEqual([]);
    // The only other message the page got: WXT's "content script started" ping, which names our
    // extension id (public anyway: it is in the frame's URL) and nothing else.
    expect(foundTexts(after.messages.join('\n'), [fromAlice, fromBob])).toEqual([]);
    for (const m of after.messages.filter((x) => !x.includes('page to itself'))) {
      expect(m).toMatch(
        new RegExp(`^https://bsky\\.app \\{"type":"${session.extensionId}:bsky:wxt:content-script-started","contentScriptName":"bsky","messageId":"\\w+"\\}$`),
      );
    }
    expect(foundTexts(await page.evaluate(pageEverything), [fromAlice, fromBob])).toEqual([]);
    await page.screenshot({ path: shot('exchanged') });
  }, 150_000);

  it("a bsky.app page script cannot reach the panel's document or the extension, and the panel ignores what it posts", async () => {
    needs('exchanged');
    const reach = await page.evaluate(probePageReach, session.extensionId);
    // No externally_connectable: the page has no chrome.runtime to talk to us with at all.
    expect(reach).toEqual({
      runtimeType: 'undefined',
      sendMessage: 'no runtime',
      connect: 'no runtime',
      frameDocument: 'SecurityError',
      contentDocumentNull: true,
    });

    const before = await panel.evaluate(panelMessageTexts);
    const posted = await page.evaluate(postCraftedMessages, { convoId, text: crafted, extensionOrigin: session.extensionOrigin });
    expect(posted).toBeGreaterThan(0);
    // A sync point instead of a timer: alice then sends through the panel's own composer. Her
    // outbox publishes in order, so had the panel sent the crafted text, bob1 would read it first.
    const marker = `after the crafted messages ${run}`;
    await sendChromium(panel, marker);
    const bobTexts = await waitForBob((t) => t.includes(marker), 'bob1 reading the marker');
    expect(bobTexts).not.toContain(crafted);
    const shown = await panel.evaluate(panelMessageTexts);
    expect(shown).not.toContain(crafted);
    expect(shown).toEqual([...before, marker]);
    // Nor did encryption get switched off by a posted "convo.setEncrypted".
    expect(await panel.evaluate(() => document.querySelector('[data-testid="panel-status"]')?.textContent)).toBe(
      `Conversation ${convoId}: encryption on`,
    );
  }, 120_000);

  it('the content script cannot call privileged background methods, and is told nothing but statuses', async () => {
    needs('exchanged');
    const world = cs!;
    // Every method the background serves (src/rpc/methods.ts), each with plausible params: a
    // method added later is tried too.
    const params: Record<string, unknown> = {
      'convo.status': { convoId },
      'convo.view': { convoId },
      'convo.send': { convoId, text: fromContentScript },
      'convo.setEncrypted': { convoId, encrypted: false },
      'convo.retry': { convoId, messageId: '00'.repeat(16) },
      'convo.invite': { convoId, did: bob.did },
      'convo.markRead': { convoId },
      'auth.signIn': { identifier: bob.handle, appPassword: bob.appPassword },
      'auth.signOut': { confirm: true },
      'settings.setNetwork': { plcUrl: 'https://plc.example', handleResolver: 'https://pds.example', chatProxy: 'did:web:x#bsky_chat' },
      'devices.revoke': { rkey: alice2.device.device.rkey, confirm: true },
      'contact.safetyNumber': { did: bob.did },
      'contact.verify': { did: bob.did, fingerprint: '00'.repeat(32) },
      'contact.unverify': { did: bob.did },
    };
    const methods = Object.keys(METHODS).map((method) => ({ method, params: params[method] ?? {} }));
    const probe = await world.evaluate(contentScriptProbe, { kind: 'call', methods });
    // A content script's two methods: the status answer proves the port reached the background;
    // a ticket admits one panel frame of its tab, and is all it gets (src/rpc/panel-tickets.ts).
    const own = ['convo.status', 'panel.ticket'];
    expect(probe.answers['convo.status']).toMatchObject({ ok: true, result: { convoId, encrypted: true } });
    expect(probe.answers['panel.ticket']).toMatchObject({ ok: true, result: { ticket: expect.stringMatching(/^[0-9a-f]{32}$/) } });
    const privileged = Object.entries(probe.answers).filter(([m]) => !own.includes(m));
    expect(privileged.map(([m]) => m).sort()).toEqual(Object.keys(METHODS).filter((m) => !own.includes(m)).sort());
    for (const [method, answer] of privileged) {
      expect({ method, answer }).toEqual({ method, answer: { ok: false, code: 'Forbidden' } });
    }
    // What the background pushed to the content script's port during the whole conversation:
    // statuses and "changed" pings, never a text.
    const heard = await world.evaluate(readContentScriptSpy, null);
    expect(heard.length).toBeGreaterThan(0);
    expect(foundTexts(heard.join('\n'), secrets())).toEqual([]);
    for (const event of heard) expect(JSON.parse(event).event).toMatch(/^convo\.(status|changed)$/);

    // Nothing was sent, revoked or switched off: alice's next message is bob1's next.
    const marker = `after the content script ${run}`;
    await sendChromium(panel, marker);
    const bobTexts = await waitForBob((t) => t.includes(marker), 'bob1 reading the marker');
    expect(bobTexts).not.toContain(fromContentScript);
    expect((await groupOf(bob1, groupId))!.active).toBe(true);
    expect(leafUris(bob1, (await groupOf(bob1, groupId))!)).toContain(alice2.device.device.uri);
  }, 120_000);

  it("frames of ours that the page makes are refused, even at the real panel's URL; the panel is refused what it never calls", async () => {
    needs('exchanged');
    // The real panel, on a port of its own frame: admitted as the panel (its ticket is bound to
    // this frame), and refused everything it is not given.
    expectPanelAnswers(await panel.evaluate(extensionPortProbe, PANEL_PROBE));

    // What a page script (or any frame inside the page) can make: panel frames without a ticket,
    // in the page and nested, and copies of the real panel's URL, whose ticket it can read.
    const real = await page.evaluate(realPanelSrc);
    expect(real).toMatch(/^chrome-extension:\/\/[a-z]+\/panel\.html\?.*ticket=[0-9a-f]{32}/);
    const rogues = rogueFrames(session.extensionOrigin, convoId, real!);
    for (const rogue of rogues) await page.evaluate(frameOurPage, rogue);
    try {
      for (const rogue of rogues) {
        const frame = await ourFrameChromium(page, rogue);
        // Our own panel code runs there, and the background would not talk to it.
        await expect.poll(() => frame.evaluate(panelText, 'panel-background'), POLL).toMatch(/^Background unavailable/);
        expectRefused(await frame.evaluate(extensionPortProbe, refusedFrameProbe(convoId)), rogue.id);
      }
      await page.screenshot({ path: shot('rogue-frames') });
    } finally {
      await page.evaluate(removeOurFrames, rogues.map((r) => r.id));
    }
    // The copies took nothing from the real panel: it is still the panel, and still works.
    expectPanelAnswers(await panel.evaluate(extensionPortProbe, PANEL_PROBE));
    const marker = `after the rogue frames ${run}`;
    await sendChromium(panel, marker);
    expect(await waitForBob((t) => t.includes(marker), 'bob1 reading the marker')).toContain(marker);
  }, 120_000);

  it('a device revoked on the options page is removed, and cannot decrypt what is sent after', async () => {
    needs('exchanged');
    const options = await session.context.newPage();
    await options.goto(`${session.extensionOrigin}/options.html`);
    const rkey = alice2.device.device.rkey;
    await options.getByTestId(`device-revoke-${rkey}`).click({ timeout: POLL.timeout });
    await options.getByTestId(`device-revoke-confirm-${rkey}`).click({ timeout: POLL.timeout });
    const row = options.locator(`[data-testid="device-list"] > li[data-uri="${alice2.device.device.uri}"]`);
    await expect.poll(() => row.count(), POLL).toBe(0);
    expect(await options.locator(`[data-testid="device-revoke-error-${rkey}"]`).count()).toBe(0);
    await options.screenshot({ path: shot('revoked') });
    await options.close();
    const records = await alice2.device.publicRepos.listRecords(alice.did, DEVICE_COLLECTION_NSID, { max: 100 });
    expect(records.map((r) => r.rkey)).not.toContain(rkey);

    // The removal commit: alice's extension, whose device it is, takes the first turn (§6.9).
    // If its epoch is not final yet it must wait (§6.7); bob1 then commits it on its own turn,
    // with the Node clock moved past finality and the owner's turns.
    let advanced = false;
    const started = Date.now();
    await waitForPanel(
      async () => {
        if (!advanced && Date.now() - started > 20_000) {
          advanced = true;
          clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 4 * DEFAULT_DELIVERY_POLICY.staggerSlotMs);
          await bob1.engine.poll([alice.did]); // the read after which its epoch is final (§6.7)
          bob1.engine.noteRepoChanged(alice.did, [DEVICE_COLLECTION_NSID]);
          await bob1.engine.maintain();
        }
        return panel.evaluate(panelDeviceUris);
      },
      (d) => (d[alice.did] ?? []).length === 1,
      "alice's panel listing one device of hers",
      90_000,
    );
    // Which path ran, for whoever reads the log (either commit is a valid removal, §6.7).
    console.log(`[isolation] removal committed ${advanced ? 'after bob1 was prompted too (Node clock moved on)' : "by alice's extension"}`);
    expect((await panel.evaluate(panelDeviceUris))[alice.did]).toEqual([aliceDeviceUri]);
    await expect
      .poll(async () => {
        await round(bob1, [alice.did]);
        return leafUris(bob1, (await groupOf(bob1, groupId))!);
      }, DELIVERY)
      .toEqual([aliceDeviceUri, bob1.device.device.uri].sort());
    await round(alice2, [alice.did, bob.did]);
    const removedGroup = (await groupOf(alice2, groupId))!;
    expect(removedGroup.active).toBe(false);
    const kept = await nodeTexts(alice2, groupId);
    // Record keys from here on were chosen after the removal commit was sealed (which alice2 may
    // open: it is of the old epoch, and it is how alice2 learned it was removed).
    const removedAfter = newTid();

    // Sent after the removal: by the extension and by bob1. bob1 reads alice's.
    await sendChromium(panel, afterRevocation);
    await bob1.engine.sendText(groupId, bobAfterRevocation);
    expect(await waitForBob((t) => t.includes(afterRevocation), 'bob1 reading alice after the revocation')).toContain(afterRevocation);
    await waitForPanel(() => panel.evaluate(panelMessageTexts), (t) => t.includes(bobAfterRevocation), "alice's panel after the revocation");

    // alice2 reads on: no message comes out, what it had stays, and no key it holds opens them.
    const report = await alice2.engine.poll([alice.did, bob.did]);
    expect(report.outcomes.filter((o) => o.kind === 'message')).toEqual([]);
    expect(await nodeTexts(alice2, groupId)).toEqual(kept);
    expect(kept).toEqual(expect.arrayContaining([fromAlice, fromBob]));
    const final = (await groupOf(alice2, groupId))!;
    expect((await expectUnreadableAfter(alice2.device.publicRepos, final, [alice.did, bob.did], removedAfter)).events).toBeGreaterThanOrEqual(2);
    await expect(alice2.engine.sendText(groupId, 'from the revoked device')).rejects.toMatchObject({ code: 'NotMember' });

    // And the page, which watched all along, saw none of this file's texts.
    const spy = (await page.evaluate(readPageSpy))!;
    expect(foundTexts(`${spy.seen.join('\n')}\n${spy.messages.join('\n')}`, secrets())).toEqual([]);
    expect(foundTexts(await page.evaluate(pageEverything), secrets())).toEqual([]);
  }, 180_000);
});

/**
 * Another extension installed in the same browser: it knows our id (ids are public) and tries
 * our background directly. We register no `onConnectExternal`/`onMessageExternal` listener and
 * no `externally_connectable`, so both are refused by the browser before our code runs.
 */
describe('Chromium: another extension', () => {
  let dir: string;
  let profile: string;
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atm-e2e-other-ext-'));
    profile = await mkdtemp(join(tmpdir(), 'atm-e2e-other-profile-'));
    await writeFile(
      join(dir, 'manifest.json'),
      JSON.stringify({
        manifest_version: 3,
        name: 'other',
        version: '1.0',
        background: { service_worker: 'sw.js' },
        host_permissions: ['https://bsky.app/*'],
      }),
    );
    await writeFile(join(dir, 'sw.js'), 'self.addEventListener("install", () => {});\n');
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await rm(profile, { recursive: true, force: true });
  });

  it("cannot message or connect to our background, whatever it sends", async () => {
    const ours = inject('chromeExtensionDir');
    const args = chromiumArgs(ours, inject('replicaPort')).map((a) =>
      a.startsWith('--disable-extensions-except=')
        ? `--disable-extensions-except=${ours},${dir}`
        : a.startsWith('--load-extension=')
          ? `--load-extension=${ours},${dir}`
          : a,
    );
    const { execFileSync } = await import('node:child_process');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim(),
      headless: inject('headless'),
      args,
      timeout: 30_000,
    });
    const workerOf = async (script: string) =>
      context!.serviceWorkers().find((w) => w.url().endsWith(script)) ??
      (await context!.waitForEvent('serviceworker', { predicate: (w) => w.url().endsWith(script), timeout: 15_000 }));
    const [ourWorker, other] = await Promise.all([workerOf('/background.js'), workerOf('/sw.js')]);
    const ourId = new URL(ourWorker.url()).host;
    expect(new URL(other.url()).host).not.toBe(ourId);

    const outcome = await other.evaluate(async (id: string) => {
      const c = (globalThis as unknown as { chrome: { runtime: any } }).chrome;
      const message = await c.runtime
        .sendMessage(id, { rpc: 1, id: 1, method: 'background.info', params: {} })
        .then((r: unknown) => `answered: ${JSON.stringify(r)}`, (e: Error) => `rejected: ${e.message}`);
      const port = c.runtime.connect(id, { name: 'atmessaging-rpc' });
      const connect = await new Promise<string>((resolve) => {
        port.onMessage.addListener((m: unknown) => resolve(`answered: ${JSON.stringify(m)}`));
        port.onDisconnect.addListener(() => resolve(`disconnected: ${c.runtime.lastError?.message ?? ''}`));
        setTimeout(() => resolve('neither answered nor disconnected'), 10_000);
        try {
          port.postMessage({ rpc: 1, id: 2, method: 'background.info', params: {} });
        } catch (error) {
          resolve(`disconnected: ${(error as Error).message}`);
        }
      });
      return { message, connect };
    }, ourId);
    expect(outcome.message).toMatch(/^rejected: .*Receiving end does not exist/);
    expect(outcome.connect).toMatch(/^disconnected: /);
  });
});

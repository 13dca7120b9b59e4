import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame as ChromiumFrame, Page as ChromiumPage } from 'playwright-core';
import type { Frame, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, launchFirefox, type ChromiumSession, type FirefoxSession } from './browsers';
import { DEMO_CONVO_TITLES } from './demo-convos';
import { extensionPortProbe, frameOurPage, realPanelSrc, removeOurFrames, type OurFrameArgs } from './isolation-probes';
import { manifestVersion, mountedOn, pageTheme, panelText, probePageAccess, snapshotMounts } from './page-probes';
import {
  configureAndSignInChromium,
  configureNetworkFirefox,
  encryptedAndJoined,
  foundTexts,
  networkSettings,
  openExtensionTabFirefox,
  openPanelChromium,
  pageTextAndMarkup,
  panelSnapshot,
  panelSummary,
  sendChromium,
  sendFirefox,
  signInFirefox,
  waitForKeyPackages,
} from './product';
import { expectPanelAnswers, expectRefused, PANEL_PROBE, refusedFrameProbe, rogueFrames } from './surfaces';

const POLL = { timeout: 10_000, interval: 50 };
/** The background reads peers' repos when the PDS firehose wakes it, and every minute anyway. */
const DELIVERY = { timeout: 60_000, interval: 250 };

describe('Firefox ESR (MV2) on the bsky.app replica, over WebDriver BiDi', () => {
  const convos = inject('convos');
  const [alice, bob, carol] = convos as [(typeof convos)[0], (typeof convos)[0], (typeof convos)[0]];
  const extensionDir = inject('firefoxExtensionDir');
  const shot = (name: string) => join(inject('resultsDir'), `firefox-${name}.png`) as `${string}.png`;
  const network = inject('network');
  const demo = inject('demo');
  // Encryption needs an account and a conversation the chat service knows: the demo direct
  // conversation, with alice signed in here and bob in a Chromium profile of his own (whose
  // device exists before alice turns encryption on).
  const direct = { id: demo.directConvoId, title: DEMO_CONVO_TITLES.direct };
  let session: FirefoxSession;
  let page: Page;
  let bobDir: string | undefined;
  let bobSession: ChromiumSession | undefined;
  let bobPage: ChromiumPage;
  const done = { signedIn: false, encrypted: false };
  const needs = (step: keyof typeof done) => expect(done[step], `needs the earlier step "${step}"`).toBe(true);

  const snapshot = () => page.evaluate(snapshotMounts);
  const inHost = (convoId: string, selector: string) => `[data-atmessaging-convo="${convoId}"] >>> ${selector}`;

  /**
   * The panel frame of the mounted host, found through the iframe element itself. (Over BiDi,
   * puppeteer's Frame.url() stays `about:blank` for the moz-extension frame, so the frame's
   * location is read from inside it instead.)
   */
  async function panelFrame(convoId: string): Promise<Frame> {
    const handle = await page.waitForSelector(inHost(convoId, 'iframe'), { timeout: POLL.timeout });
    const frame = await handle?.contentFrame();
    if (!frame) throw new Error('panel iframe has no frame');
    return frame;
  }

  beforeAll(async () => {
    bobDir = await mkdtemp(join(tmpdir(), 'atm-e2e-bob-'));
    const [firefox, chromium] = await Promise.allSettled([
      launchFirefox({
        extensionDir,
        proxyPort: inject('proxyPort'),
        headless: inject('headless'),
      }),
      launchChromium({
        extensionDir: inject('chromeExtensionDir'),
        replicaPort: inject('replicaPort'),
        headless: inject('headless'),
        userDataDir: bobDir,
      }),
    ]);
    if (firefox.status === 'fulfilled') session = firefox.value;
    if (chromium.status === 'fulfilled') bobSession = chromium.value;
    if (firefox.status === 'rejected') throw firefox.reason;
    if (chromium.status === 'rejected') throw chromium.reason;
    page = (await session.browser.pages())[0] ?? (await session.browser.newPage());
    bobPage = bobSession!.context.pages()[0] ?? (await bobSession!.context.newPage());
  });

  afterAll(async () => {
    await Promise.all([session?.close(), bobSession?.close()]);
    if (bobDir) await rm(bobDir, { recursive: true, force: true });
  });

  it('mounts the toggle on the visible conversation screen with the status from the background', async () => {
    await page.goto(`https://bsky.app/messages/${alice.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(alice.id, alice.title, 'off'));
    const snap = await snapshot();
    // The panel's frame is made when the user first opens it.
    expect(snap.hosts[0]).toMatchObject({ iframeSrc: null, iframeHidden: null, pressed: 'false' });
    await page.screenshot({ path: shot('01-mounted') });
  });

  it('frames the panel from the extension origin and round-trips RPC to the background', async () => {
    const snap = await snapshot();
    // The replica, like bsky.app, states its theme on <html>; the panel is asked to follow it.
    const theme = await page.evaluate(pageTheme);
    expect(theme).toMatch(/^(light|dim|dark)$/);
    // The URL carries the ticket the content script got for this frame (src/rpc/panel-tickets.ts).
    const panelUrl = new RegExp(`^${session.extensionOrigin}/panel\\.html\\?convo=${alice.id}&ticket=[0-9a-f]{32}&theme=${theme}$`);
    expect(snap.hosts[0]?.iframeSrc).toBeNull();

    await page.click(inHost(alice.id, '[data-testid="atm-toggle"]'));
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ iframeHidden: false, pressed: 'true', iframeSrc: expect.stringMatching(panelUrl) }] });

    const frame = await panelFrame(alice.id);
    // Read inside the frame: where the document really is.
    expect(await frame.evaluate(() => location.href)).toBe((await snapshot()).hosts[0]!.iframeSrc);
    expect(await frame.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
    // background.info is not a content script's method: the answer proves the panel's port
    // reached the background and was admitted as the panel by its ticket.
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-background'), POLL)
      .toBe(`Connected to atmessaging ${manifestVersion(extensionDir)}`);
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${alice.id}: encryption off`);
    await page.screenshot({ path: shot('02-panel-open') });
  });

  /** A frame `frameOurPage` made, once our page has loaded in it (read from inside: see panelFrame). */
  async function ourFrame(rogue: OurFrameArgs): Promise<Frame> {
    const outer = await (await page.waitForSelector(`#${rogue.id}`, { timeout: POLL.timeout }))?.contentFrame();
    const frame = rogue.nested ? await (await outer?.waitForSelector('iframe', { timeout: POLL.timeout }))?.contentFrame() : outer;
    if (!frame) throw new Error(`no frame for ${rogue.id}`);
    await expect.poll(() => frame.evaluate(() => location.href).catch(() => ''), POLL).toBe(rogue.src);
    return frame;
  }

  // Firefox (MV2) lets any page frame panel.html: the check that matters most runs here.
  it("refuses frames of ours that the page makes, even at the real panel's URL; the panel is refused what it never calls", async () => {
    const panel = await panelFrame(alice.id);
    // The real panel, on a port of its own frame: admitted as the panel, refused the rest.
    expectPanelAnswers(await panel.evaluate(extensionPortProbe, PANEL_PROBE));

    const real = await page.evaluate(realPanelSrc);
    expect(real).toMatch(/^moz-extension:\/\/[0-9a-f-]+\/panel\.html\?.*ticket=[0-9a-f]{32}/);
    const rogues = rogueFrames(session.extensionOrigin, alice.id, real!);
    for (const rogue of rogues) await page.evaluate(frameOurPage, rogue);
    try {
      for (const rogue of rogues) {
        const frame = await ourFrame(rogue);
        await expect.poll(() => frame.evaluate(panelText, 'panel-background'), POLL).toMatch(/^Background unavailable/);
        expectRefused(await frame.evaluate(extensionPortProbe, refusedFrameProbe(alice.id)), rogue.id);
      }
      await page.screenshot({ path: shot('02b-rogue-frames') });
    } finally {
      await page.evaluate(removeOurFrames, rogues.map((r) => r.id));
    }
    // The copies took nothing from the real panel.
    expectPanelAnswers(await panel.evaluate(extensionPortProbe, PANEL_PROBE));
    await expect.poll(() => panel.evaluate(panelText, 'panel-status'), POLL).toBe(`Conversation ${alice.id}: encryption off`);
  });

  it('configures the network (options page) and signs in (popup), both as moz-extension tabs', async () => {
    // The open panel (an extension page) opens the tabs: BiDi cannot navigate to moz-extension.
    const opener = await panelFrame(alice.id);
    await configureNetworkFirefox(session.browser, opener, session.extensionOrigin, network);
    // The options page shows what the background stored.
    const options = await openExtensionTabFirefox(session.browser, opener, `${session.extensionOrigin}/options.html`);
    const stored = await options.waitForSelector('[data-testid="settings-chat"]', { timeout: POLL.timeout });
    expect(await stored!.evaluate((el) => (el as HTMLInputElement).value)).toBe(networkSettings(network).chatProxy);
    await options.close();
    // bob signs in on Chromium meanwhile: his device must exist when alice turns encryption on.
    await Promise.all([
      signInFirefox(session.browser, opener, session.extensionOrigin, demo.accounts.alice),
      configureAndSignInChromium(bobSession!.context, bobSession!.extensionOrigin, network, demo.accounts.bob),
    ]);
    // bob's key packages are published in the background after sign-in; alice needs one.
    await waitForKeyPackages(network.pdsUrl, demo.accounts.bob.did);
    done.signedIn = true;
  });

  it('turns encryption on through the panel and keeps it across a reload (background IndexedDB)', async () => {
    needs('signedIn');
    await page.goto(`https://bsky.app/messages/${direct.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(direct.id, direct.title, 'off'));
    await page.click(inHost(direct.id, '[data-testid="atm-toggle"]'));
    const frame = await panelFrame(direct.id);
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${direct.id}: encryption off`);
    await frame.click('[data-testid="panel-encrypt-toggle"]');
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${direct.id}: encryption on`);
    // The background pushes the change to the content script: the toggle follows while the
    // panel is still open.
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ state: 'on', iframeHidden: false }] });
    await page.click(inHost(direct.id, '[data-testid="atm-toggle"]'));
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ state: 'on', iframeHidden: true }] });

    await page.reload();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(direct.id, direct.title, 'on'));
    await page.click(inHost(direct.id, '[data-testid="atm-toggle"]'));
    const reloaded = await panelFrame(direct.id);
    await expect
      .poll(() => reloaded.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${direct.id}: encryption on`);
    done.encrypted = true;
    await page.screenshot({ path: shot('03-encrypted-after-reload') });
  });

  it('follows client-side navigation: remounts per conversation, unmounts elsewhere, remounts on back', async () => {
    await page.click(`[data-testid="nav-convo-${bob.id}"]`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    expect((await snapshot()).convoScreens).toBe(2);
    await page.screenshot({ path: shot('04-navigated-to-bob') });

    await page.click('[data-testid="nav-messages"]');
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', visibleConvoScreens: 0, hosts: [] });

    await page.click('[data-testid="nav-profile"]');
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/profile/x', visibleConvoScreens: 0, hosts: [] });
    await page.screenshot({ path: shot('05-profile') });

    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', hosts: [] });
    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(direct.id, direct.title, 'on'));
    await page.goForward();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));

    await page.click('[data-testid="nav-messages"]');
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', hosts: [] });
    await page.click(`[data-testid="convo-link-${carol.id}"]`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(carol.id, carol.title, 'off'));
    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', hosts: [] });
    await page.click('a[href="/messages/settings"]');
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages/settings', hosts: [] });
    await page.screenshot({ path: shot('06-after-navigation') });
  });

  it('keeps the panel document out of reach of scripts in the bsky.app page', async () => {
    await page.goto(`https://bsky.app/messages/${bob.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    await page.click(inHost(bob.id, '[data-testid="atm-toggle"]'));
    // Probed once the panel is there: until the frame's first navigation commits, it holds the
    // initial about:blank document, which is the page's origin and holds nothing of ours.
    await expect.poll(async () => (await panelFrame(bob.id)).evaluate(() => location.origin), POLL).toBe(session.extensionOrigin);
    // page.evaluate runs in the page's main world (BiDi's default realm), not a sandbox.
    const probe = await page.evaluate(probePageAccess);
    expect(probe).toEqual({
      iframeFound: true,
      contentDocumentIsNull: true,
      documentAccess: 'SecurityError',
      locationAccess: 'SecurityError',
      syntheticClickOpened: false,
    });
  });
});

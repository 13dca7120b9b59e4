import { join } from 'node:path';
import type { Frame, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchFirefox, type FirefoxSession } from './browsers';
import { manifestVersion, mountedOn, panelText, probePageAccess, snapshotMounts } from './page-probes';

const POLL = { timeout: 10_000, interval: 50 };

describe('Firefox ESR (MV2) on the bsky.app replica, over WebDriver BiDi', () => {
  const convos = inject('convos');
  const [alice, bob, carol] = convos as [(typeof convos)[0], (typeof convos)[0], (typeof convos)[0]];
  const extensionDir = inject('firefoxExtensionDir');
  const shot = (name: string) => join(inject('resultsDir'), `firefox-${name}.png`) as `${string}.png`;
  let session: FirefoxSession;
  let page: Page;

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
    session = await launchFirefox({
      extensionDir,
      proxyPort: inject('proxyPort'),
      headless: inject('headless'),
    });
    page = (await session.browser.pages())[0] ?? (await session.browser.newPage());
  });

  afterAll(async () => {
    await session?.close();
  });

  it('mounts the toggle on the visible conversation screen with the status from the background', async () => {
    await page.goto(`https://bsky.app/messages/${alice.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(alice.id, alice.title, 'off'));
    const snap = await snapshot();
    expect(snap.hosts[0]).toMatchObject({ iframeHidden: true, pressed: 'false' });
    await page.screenshot({ path: shot('01-mounted') });
  });

  it('frames the panel from the extension origin and round-trips RPC to the background', async () => {
    const snap = await snapshot();
    expect(snap.hosts[0]?.iframeSrc).toBe(`${session.extensionOrigin}/panel.html?convo=${alice.id}`);

    await page.click(inHost(alice.id, '[data-testid="atm-toggle"]'));
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ iframeHidden: false, pressed: 'true' }] });

    const frame = await panelFrame(alice.id);
    // Read inside the frame: where the document really is.
    expect(await frame.evaluate(() => location.href)).toBe(
      `${session.extensionOrigin}/panel.html?convo=${alice.id}`,
    );
    // background.info is an extension-page-only method: the answer proves the panel's port
    // reached the background and was classified as an extension page.
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-background'), POLL)
      .toBe(`Connected to atmessaging ${manifestVersion(extensionDir)}`);
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${alice.id}: encryption off`);
    await page.screenshot({ path: shot('02-panel-open') });
  });

  it('turns encryption on through the panel and keeps it across a reload (background IndexedDB)', async () => {
    const frame = await panelFrame(alice.id);
    await frame.click('[data-testid="panel-encrypt-toggle"]');
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${alice.id}: encryption on`);
    // The background pushes the change to the content script: the toggle follows while the
    // panel is still open.
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ state: 'on', iframeHidden: false }] });
    await page.click(inHost(alice.id, '[data-testid="atm-toggle"]'));
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ state: 'on', iframeHidden: true }] });

    await page.reload();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(alice.id, alice.title, 'on'));
    await page.click(inHost(alice.id, '[data-testid="atm-toggle"]'));
    const reloaded = await panelFrame(alice.id);
    await expect
      .poll(() => reloaded.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${alice.id}: encryption on`);
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
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(alice.id, alice.title, 'on'));
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

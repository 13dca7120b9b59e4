import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type ChromiumSession } from './browsers';
import { DEMO_CONVO_TITLES } from './demo-convos';
import { manifestVersion, mountedOn, pageTheme, panelText, probePageAccess, snapshotMounts } from './page-probes';
import { configureAndSignInChromium, deviceRecordUris } from './product';

const POLL = { timeout: 10_000, interval: 50 };

describe('Chromium (MV3) on the bsky.app replica', () => {
  const convos = inject('convos');
  const [alice, bob, carol] = convos as [(typeof convos)[0], (typeof convos)[0], (typeof convos)[0]];
  // Encryption needs an account and a conversation the chat service knows: the demo direct
  // conversation (alice + bob), with the demo account alice signed in.
  const direct = { id: inject('demo').directConvoId, title: DEMO_CONVO_TITLES.direct };
  const extensionDir = inject('chromeExtensionDir');
  const shot = (name: string) => join(inject('resultsDir'), `chromium-${name}.png`);
  let session: ChromiumSession;
  let page: Page;

  const snapshot = () => page.evaluate(snapshotMounts);
  const host = (convoId: string) => page.locator(`[data-atmessaging-convo="${convoId}"]`);

  /** The panel frame of the mounted host, found through the iframe element itself. */
  async function panelFrame(convoId: string): Promise<Frame> {
    const handle = await host(convoId).locator('iframe').elementHandle();
    const frame = await handle?.contentFrame();
    if (!frame) throw new Error('panel iframe has no frame');
    return frame;
  }

  beforeAll(async () => {
    session = await launchChromium({
      extensionDir,
      replicaPort: inject('replicaPort'),
      headless: inject('headless'),
    });
    page = session.context.pages()[0] ?? (await session.context.newPage());
  });

  afterAll(async () => {
    await session?.close();
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
    expect(snap.hosts[0]?.iframeSrc).toBeNull();

    await host(alice.id).getByTestId('atm-toggle').click();
    // The URL carries the ticket the content script got for this frame (src/rpc/panel-tickets.ts).
    const panelUrl = new RegExp(`^chrome-extension://${session.extensionId}/panel\\.html\\?convo=${alice.id}&ticket=[0-9a-f]{32}&theme=${theme}$`);
    await expect.poll(snapshot, POLL).toMatchObject({
      hosts: [{ iframeHidden: false, pressed: 'true', iframeSrc: expect.stringMatching(panelUrl) }],
    });

    const frame = await panelFrame(alice.id);
    // Where the frame really is, as the browser reports it (not what the page asked for).
    expect(frame.url()).toBe((await snapshot()).hosts[0]!.iframeSrc);
    expect(await frame.evaluate(() => location.origin)).toBe(session.extensionOrigin);
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

  it('turns encryption on through the panel and keeps it across a reload (background IndexedDB)', async () => {
    await configureAndSignInChromium(session.context, session.extensionOrigin, inject('network'), inject('demo').accounts.alice);
    await page.goto(`https://bsky.app/messages/${direct.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(direct.id, direct.title, 'off'));
    await host(direct.id).getByTestId('atm-toggle').click();
    const frame = await panelFrame(direct.id);
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${direct.id}: encryption off`);
    await frame.getByTestId('panel-encrypt-toggle').click();
    await expect
      .poll(() => frame.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${direct.id}: encryption on`);
    // The background pushes the change to the content script: the toggle follows while the
    // panel is still open.
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ state: 'on', iframeHidden: false }] });
    await host(direct.id).getByTestId('atm-toggle').click();
    await expect.poll(snapshot, POLL).toMatchObject({ hosts: [{ state: 'on', iframeHidden: true }] });

    await page.reload();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(direct.id, direct.title, 'on'));
    await host(direct.id).getByTestId('atm-toggle').click();
    const reloaded = await panelFrame(direct.id);
    await expect
      .poll(() => reloaded.evaluate(panelText, 'panel-status'), POLL)
      .toBe(`Conversation ${direct.id}: encryption on`);
    await page.screenshot({ path: shot('03-encrypted-after-reload') });
  });

  it("lists this device and the account's others on the options page, as the repo has them", async () => {
    const { did } = inject('demo').accounts.alice;
    const popup = await session.context.newPage();
    await popup.goto(`${session.extensionOrigin}/popup.html`);
    const thisDevice = await popup.getByTestId('account-device').textContent({ timeout: POLL.timeout });
    await popup.close();
    expect(thisDevice).toMatch(new RegExp(`^at://${did}/org\\.atmessaging\\.device/\\w+$`));

    const options = await session.context.newPage();
    await options.goto(`${session.extensionOrigin}/options.html`);
    await options.getByTestId('device-list').waitFor({ timeout: POLL.timeout });
    const rows = await options
      .getByTestId('device-list')
      .locator(':scope > li')
      .evaluateAll((lis) => lis.map((li) => ({ uri: li.getAttribute('data-uri'), thisDevice: li.getAttribute('data-this-device') })));
    // Other e2e profiles may have signed alice in too: the page lists exactly what her repo holds.
    expect(rows.map((r) => r.uri).sort()).toEqual((await deviceRecordUris(inject('network').pdsUrl, did)).sort());
    expect(rows.filter((r) => r.thisDevice === 'true').map((r) => r.uri)).toEqual([thisDevice]);
    // No revoke button for the device in use (sign-out removes it); one for every other.
    const rkey = thisDevice!.split('/').pop()!;
    expect(await options.getByTestId(`device-revoke-${rkey}`).count()).toBe(0);
    expect(await options.locator('[data-testid^="device-revoke-"]').count()).toBe(rows.length - 1);
    await options.screenshot({ path: shot('05-options-devices') });
    await options.close();
  });

  it('follows client-side navigation: remounts per conversation, unmounts elsewhere, remounts on back', async () => {
    // pushState to another conversation: the old screen stays in the DOM, hidden.
    await page.getByTestId(`nav-convo-${bob.id}`).click();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    expect((await snapshot()).convoScreens).toBe(2);
    await page.screenshot({ path: shot('04-navigated-to-bob') });

    await page.getByTestId('nav-messages').click();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', visibleConvoScreens: 0, hosts: [] });

    await page.getByTestId('nav-profile').click();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/profile/x', visibleConvoScreens: 0, hosts: [] });
    await page.screenshot({ path: shot('05-profile') });

    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', hosts: [] });
    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    // Back to the encrypted conversation: its (kept, hidden) screen is shown again and remounted.
    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(direct.id, direct.title, 'on'));
    await page.goForward();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));

    // From the inbox to a third conversation, and to a /messages/* route that is not one.
    await page.getByTestId('nav-messages').click();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', hosts: [] });
    await page.getByTestId(`convo-link-${carol.id}`).click();
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(carol.id, carol.title, 'off'));
    await page.goBack();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages', hosts: [] });
    await page.getByText('Chat settings').click();
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/messages/settings', hosts: [] });
    await page.screenshot({ path: shot('06-after-navigation') });
  });

  it('keeps the panel document out of reach of scripts in the bsky.app page', async () => {
    await page.goto(`https://bsky.app/messages/${bob.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    await host(bob.id).getByTestId('atm-toggle').click();
    // Probed once the panel is there: until the frame's first navigation commits, it holds the
    // initial about:blank document, which is the page's origin and holds nothing of ours.
    await expect.poll(async () => (await panelFrame(bob.id)).evaluate(() => location.origin), POLL).toBe(session.extensionOrigin);
    // page.evaluate runs in the page's main world, like bsky.app's own scripts.
    const probe = await page.evaluate(probePageAccess);
    expect(probe).toEqual({
      iframeFound: true,
      contentDocumentIsNull: true,
      documentAccess: 'SecurityError',
      locationAccess: 'SecurityError',
      syntheticClickOpened: false,
    });
  });

  // Regression: the content script once reconciled on childList mutations only, so a kept
  // screen shown again by a style change alone (after the URL changed) was never decorated.
  it('mounts when a kept conversation screen is shown again by a late style change', async () => {
    await page.goto(`https://bsky.app/messages/${bob.id}`);
    await expect.poll(snapshot, POLL).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
    await page.evaluate(() => {
      history.pushState({}, '', '/profile/x');
      document.querySelector<HTMLElement>('section.screen')!.style.display = 'none';
    });
    await expect.poll(snapshot, POLL).toMatchObject({ path: '/profile/x', hosts: [] });
    await page.evaluate((convoId) => {
      history.pushState({}, '', `/messages/${convoId}`);
      setTimeout(() => {
        document.querySelector<HTMLElement>('section.screen')!.style.display = '';
      }, 100);
    }, bob.id);
    await expect.poll(snapshot, { ...POLL, timeout: 5_000 }).toMatchObject(mountedOn(bob.id, bob.title, 'off'));
  });
});

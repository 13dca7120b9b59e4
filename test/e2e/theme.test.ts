import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type ChromiumSession } from './browsers';
import { pageTheme, snapshotMounts } from './page-probes';

const POLL = { timeout: 10_000, interval: 50 };

/**
 * The panel follows bsky.app's theme: the replica, like bsky.app, states it as a `theme--*`
 * class on <html> (following the system colour scheme in its default mode, or the user's pick
 * on its appearance screen), and the panel's own <html data-theme> must follow, including while
 * it is open.
 */
describe('Chromium: the panel follows the page theme (light, dim, dark)', () => {
  const convo = inject('convos')[0]!;
  const shot = (name: string) => join(inject('resultsDir'), `chromium-theme-${name}.png`);
  let session: ChromiumSession;
  let page: Page;

  const host = () => page.locator(`[data-atmessaging-convo="${convo.id}"]`);

  /** The panel frame of whichever iframe is mounted now (a theme change replaces it). */
  async function panel(): Promise<Frame | undefined> {
    const handle = await host().locator('iframe').elementHandle({ timeout: POLL.timeout });
    return (await handle?.contentFrame()) ?? undefined;
  }

  /** What the panel is drawn in: its data-theme and its body's computed background. */
  async function panelTheme(): Promise<{ theme: string | undefined; background: string } | undefined> {
    const frame = await panel();
    if (!frame) return undefined;
    return frame
      .evaluate(() => ({
        theme: document.documentElement.dataset.theme,
        background: getComputedStyle(document.body).backgroundColor,
      }))
      .catch(() => undefined); // replaced while being read
  }

  beforeAll(async () => {
    session = await launchChromium({
      extensionDir: inject('chromeExtensionDir'),
      replicaPort: inject('replicaPort'),
      headless: inject('headless'),
    });
    page = session.context.pages()[0] ?? (await session.context.newPage());
  });

  afterAll(async () => {
    await session?.close();
  });

  it('opens in light when the page is light', async () => {
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`https://bsky.app/messages/${convo.id}`);
    await host().getByTestId('atm-toggle').click({ timeout: POLL.timeout });
    expect(await page.evaluate(pageTheme)).toBe('light');
    await expect.poll(panelTheme, POLL).toEqual({ theme: 'light', background: 'rgb(255, 255, 255)' });
  });

  it('turns dim, still open, when the system goes dark (bsky.app picks dim by default)', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect.poll(() => page.evaluate(pageTheme), POLL).toBe('dim');
    await expect.poll(panelTheme, POLL).toEqual({ theme: 'dim', background: 'rgb(22, 30, 39)' });
    // Still one mount, and the panel stayed open through the change.
    await expect.poll(() => page.evaluate(snapshotMounts), POLL).toMatchObject({
      hosts: [{ convoId: convo.id, iframeHidden: false, pressed: 'true' }],
    });
    await page.screenshot({ path: shot('dim') });
  });

  it('is dark after the user picks the dark theme on the appearance screen and comes back', async () => {
    await page.getByTestId('nav-appearance').click();
    await page.getByTestId('appearance-colorMode-dark').click();
    await page.getByTestId('appearance-darkTheme-dark').click();
    expect(await page.evaluate(pageTheme)).toBe('dark');
    await page.goBack();
    await host().getByTestId('atm-toggle').click({ timeout: POLL.timeout });
    await expect.poll(panelTheme, POLL).toEqual({ theme: 'dark', background: 'rgb(0, 0, 0)' });
    await page.screenshot({ path: shot('dark') });
  });
});

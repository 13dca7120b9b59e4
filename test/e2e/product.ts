import type { BrowserContext, Frame as PwFrame, Page as PwPage } from 'playwright-core';
import type { Browser as PpBrowser, Frame as PpFrame, Page as PpPage } from 'puppeteer-core';
import type { NetworkInfo } from '../net/network';
import type { DemoInfo } from './provide';

/**
 * Product-level steps shared by the e2e tests: configure the extension for the local network
 * (options page), sign in (popup), open a conversation's panel, and the checks that no message
 * text ever leaves the extension in the clear. The options page and the popup are opened as
 * ordinary tabs of the extension's origin; the panel is the iframe the content script mounts.
 */

export type DemoAccount = DemoInfo['accounts']['alice'];

/** What the options page is filled in with: the local PLC, the PDS as handle resolver, the stand-in. */
export function networkSettings(network: NetworkInfo) {
  return {
    plcUrl: network.plcUrl,
    handleResolver: network.pdsUrl,
    chatProxy: `${network.chat.did}#bsky_chat`,
  };
}

/** Sign-in creates the device record and a key-package pool in the PDS: give it room. */
const SIGN_IN_TIMEOUT = 30_000;
const UI_TIMEOUT = 10_000;

/** Runs a step on an extension page; a failure says what the page showed at that moment. */
async function onPage<T>(what: string, pageText: () => Promise<string>, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const shown = await pageText().then(
      (t) => t.replace(/\s+/g, ' ').trim().slice(0, 500),
      () => '(unreadable)',
    );
    throw new Error(`${what} failed; the page showed: "${shown}"`, { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------
// Functions evaluated inside extension pages or bsky.app's page: self-contained (their source
// text is sent to the browser by both drivers).

export interface PanelMessage {
  own: string | null;
  status: string | null;
  text: string | null;
}

export interface PanelMember {
  did: string;
  /** Devices listed as in the encrypted group. */
  devices: number;
  withoutExtension: boolean;
  invite: string | null;
}

export interface PanelSnapshot {
  status: string | null;
  signedOut: boolean;
  failure: string | null;
  viewError: string | null;
  actionError: string | null;
  sendError: string | null;
  composer: boolean;
  /** The line saying this device joined from an invite (and what came before is unreadable). */
  joinedNotice: string | null;
  messages: PanelMessage[];
  members: PanelMember[];
}

/** Everything the panel shows that the tests look at (evaluated in the panel frame). */
export function panelSnapshot(): PanelSnapshot {
  // No named inner functions: a bundler's keepNames helper would not exist in the page.
  const texts: Record<string, string | null> = {};
  for (const id of [
    'panel-status',
    'panel-failure',
    'panel-view-error',
    'panel-action-error',
    'panel-send-error',
    'panel-joined-notice',
  ]) {
    const el = document.querySelector(`[data-testid="${id}"]`);
    texts[id] = el ? el.textContent : null;
  }
  const messages = Array.from(document.querySelectorAll('[data-testid="panel-message"]')).map((li) => {
    const body = li.querySelector('[data-testid="panel-message-text"]');
    return {
      own: li.getAttribute('data-own'),
      status: li.getAttribute('data-status'),
      text: body ? body.textContent : null,
    };
  });
  const members = Array.from(document.querySelectorAll('[data-testid^="panel-member-"]')).map((li) => {
    const invite = li.querySelector('[data-testid^="panel-invite-"]');
    return {
      did: (li.getAttribute('data-testid') || '').slice('panel-member-'.length),
      devices: li.querySelectorAll('ul.devices > li').length,
      withoutExtension: invite !== null,
      invite: invite ? invite.textContent : null,
    };
  });
  return {
    status: texts['panel-status'] ?? null,
    signedOut: document.querySelector('[data-testid="panel-signed-out"]') !== null,
    failure: texts['panel-failure'] ?? null,
    viewError: texts['panel-view-error'] ?? null,
    actionError: texts['panel-action-error'] ?? null,
    sendError: texts['panel-send-error'] ?? null,
    composer: document.querySelector('[data-testid="panel-composer"]') !== null,
    joinedNotice: texts['panel-joined-notice'] ?? null,
    messages,
    members,
  };
}

/** The top page's markup and rendered text (evaluated in bsky.app's page, main world). */
export function pageTextAndMarkup(): string {
  return `${document.documentElement.outerHTML}\n${document.body ? document.body.innerText : ''}`;
}

/**
 * The panel as the conversation tests assert on it: `joined` is whether `did`'s own devices are
 * listed as members of the encrypted group (the members list only shows group members' devices).
 */
export function panelSummary(snapshot: PanelSnapshot, did: string): PanelSummary {
  return { ...snapshot, joined: snapshot.members.some((m) => m.did === did && m.devices > 0) };
}

export type PanelSummary = PanelSnapshot & { joined: boolean };

/** What the panel of a member of the encrypted conversation shows (for toMatchObject). */
export function encryptedAndJoined(convoId: string) {
  return { status: `Conversation ${convoId}: encryption on`, composer: true, joined: true };
}

// ---------------------------------------------------------------------------------------------
// Chromium (playwright-core)

/** Options page in a new tab of the same profile: point the extension at the local network. */
export async function configureNetworkChromium(
  context: BrowserContext,
  extensionOrigin: string,
  network: NetworkInfo,
): Promise<void> {
  const settings = networkSettings(network);
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  try {
    await onPage('configuring the network in the options page', () => page.innerText('body'), async () => {
      await page.goto(`${extensionOrigin}/options.html`);
      await page.getByTestId('settings-plc').fill(settings.plcUrl);
      await page.getByTestId('settings-resolver').fill(settings.handleResolver);
      await page.getByTestId('settings-chat').fill(settings.chatProxy);
      await page.getByTestId('settings-save').click();
      await page.getByTestId('settings-saved').waitFor({ timeout: UI_TIMEOUT });
    });
  } finally {
    await page.close();
  }
}

/** Popup page as a tab: handle + app password, then the account view with the handle (returned). */
export async function signInChromium(
  context: BrowserContext,
  extensionOrigin: string,
  account: DemoAccount,
): Promise<string> {
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  try {
    await onPage(`signing in ${account.handle} in the popup`, () => page.innerText('body'), async () => {
      await page.goto(`${extensionOrigin}/popup.html`);
      await page.getByTestId('signin-identifier').fill(account.handle);
      await page.getByTestId('signin-password').fill(account.appPassword);
      await page.getByTestId('signin-submit').click();
      await page
        .locator('[data-testid="account-handle"], [data-testid="signin-error"]')
        .first()
        .waitFor({ timeout: SIGN_IN_TIMEOUT });
    });
    const outcome = page.locator('[data-testid="account-handle"], [data-testid="signin-error"]').first();
    if ((await outcome.getAttribute('data-testid')) === 'signin-error') {
      throw new Error(
        `sign-in of ${account.handle} failed: ${await outcome.getAttribute('data-code')}: ${await outcome.textContent()}`,
      );
    }
    const shown = await outcome.textContent();
    if (shown !== `@${account.handle}`) throw new Error(`popup shows ${shown}, expected @${account.handle}`);
    return shown;
  } finally {
    await page.close();
  }
}

export async function configureAndSignInChromium(
  context: BrowserContext,
  extensionOrigin: string,
  network: NetworkInfo,
  account: DemoAccount,
): Promise<string> {
  await configureNetworkChromium(context, extensionOrigin, network);
  return signInChromium(context, extensionOrigin, account);
}

/** Opens `/messages/<convoId>`, waits for the toggle, opens the panel and returns its frame. */
export async function openPanelChromium(page: PwPage, convoId: string): Promise<PwFrame> {
  if (new URL(page.url()).pathname !== `/messages/${convoId}`) await page.goto(`https://bsky.app/messages/${convoId}`);
  const host = page.locator(`[data-atmessaging-convo="${convoId}"]`);
  const iframe = host.locator('iframe');
  await host.getByTestId('atm-toggle').waitFor({ timeout: UI_TIMEOUT });
  if (await iframe.isHidden()) await host.getByTestId('atm-toggle').click({ timeout: UI_TIMEOUT });
  await iframe.waitFor({ state: 'visible', timeout: UI_TIMEOUT });
  const frame = await (await iframe.elementHandle())?.contentFrame();
  if (!frame) throw new Error('panel iframe has no frame');
  await frame.waitForLoadState();
  return frame;
}

/** Types into the panel's composer and presses Enter (Enter sends). */
export async function sendChromium(frame: PwFrame, text: string): Promise<void> {
  const composer = frame.getByTestId('panel-composer');
  await composer.fill(text, { timeout: UI_TIMEOUT });
  await composer.press('Enter', { timeout: UI_TIMEOUT });
}

/**
 * Reloads the panel (a fresh port to the background, a fresh convo.view). While a delivery is
 * awaited this is a fallback: the worker may have been stopped and the push event lost.
 */
export async function reloadPanelChromium(frame: PwFrame): Promise<void> {
  await frame.evaluate(() => location.reload()).catch(() => {});
  await frame.waitForLoadState();
  await frame.getByTestId('panel-status').waitFor({ timeout: UI_TIMEOUT });
}

/** How often a delivery wait reloads the panel (see reloadPanelChromium). */
export const NUDGE_MS = 15_000;

/** What `frame`'s panel shows, as `did` sees it (for `expect.poll`). */
export function panelReader(frame: PwFrame, did: string): () => Promise<PanelSummary> {
  return async () => panelSummary(await frame.evaluate(panelSnapshot), did);
}

/** A panelReader that reloads the panel every NUDGE_MS while a delivery is awaited. */
export function nudgingPanelReader(frame: PwFrame, did: string): () => Promise<PanelSummary> {
  const read = panelReader(frame, did);
  let last = Date.now();
  return async () => {
    if (Date.now() - last > NUDGE_MS) {
      last = Date.now();
      await reloadPanelChromium(frame);
    }
    return read();
  };
}

/**
 * Reads the panel until `ready` holds, reloading it every NUDGE_MS; for scripts, which have no
 * `expect.poll`. A timeout says what the panel showed last.
 */
export async function waitForPanelChromium(
  frame: PwFrame,
  did: string,
  what: string,
  ready: (summary: PanelSummary) => boolean,
  timeoutMs = 60_000,
): Promise<PanelSummary> {
  const deadline = Date.now() + timeoutMs;
  let nudged = Date.now();
  for (;;) {
    const summary = panelSummary(await frame.evaluate(panelSnapshot), did);
    if (ready(summary)) return summary;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms; the panel showed ${JSON.stringify(summary)}`);
    }
    if (Date.now() - nudged > NUDGE_MS) {
      nudged = Date.now();
      await reloadPanelChromium(frame);
    } else {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Firefox (puppeteer-core over WebDriver BiDi)

const byTestId = (id: string) => `[data-testid="${id}"]`;

async function typeInto(page: PpPage | PpFrame, testId: string, value: string): Promise<void> {
  const input = await page.waitForSelector(byTestId(testId), { visible: true, timeout: UI_TIMEOUT });
  if (!input) throw new Error(`no ${testId}`);
  // A real click first: it moves focus into a framed document (the panel), where focus() from
  // script alone does not route the keyboard in Firefox. Then clear what the form loaded (the
  // options page shows the stored values) and type.
  await input.click();
  await input.evaluate((el) => {
    (el as HTMLInputElement).select();
  });
  await input.type(value);
  const typed = await input.evaluate((el) => (el as HTMLInputElement).value);
  if (typed !== value) throw new Error(`${testId} holds ${JSON.stringify(typed)}, expected ${JSON.stringify(value)}`);
}

/**
 * Opens an extension page of ours as a tab. WebDriver BiDi refuses to navigate a tab to a
 * moz-extension URL, so an extension page that is already open (the panel frame) opens it with
 * window.open. Over BiDi the new tab's reported URL stays about:blank for extension pages, so
 * where it really is is read from inside it.
 */
export async function openExtensionTabFirefox(browser: PpBrowser, opener: PpFrame, url: string): Promise<PpPage> {
  const known = new Set(browser.targets());
  const created = browser.waitForTarget((t) => t.type() === 'page' && !known.has(t), { timeout: UI_TIMEOUT });
  const opened = await opener.evaluate((u) => window.open(u) !== null, url);
  if (!opened) throw new Error(`window.open(${url}) was refused`);
  const page = await (await created).page();
  if (!page) throw new Error(`no page for ${url}`);
  page.setDefaultTimeout(UI_TIMEOUT);
  const deadline = Date.now() + UI_TIMEOUT;
  for (;;) {
    const href = await page.evaluate(() => location.href).catch(() => undefined);
    if (href === url) return page;
    if (Date.now() > deadline) throw new Error(`the tab opened for ${url} is at ${href}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Options page in a new tab (opened by `opener`, an extension frame): the local network. */
export async function configureNetworkFirefox(
  browser: PpBrowser,
  opener: PpFrame,
  extensionOrigin: string,
  network: NetworkInfo,
): Promise<void> {
  const settings = networkSettings(network);
  const page = await openExtensionTabFirefox(browser, opener, `${extensionOrigin}/options.html`);
  const text = () => page.evaluate(() => document.body.innerText);
  try {
    await onPage('configuring the network in the options page', text, async () => {
      await typeInto(page, 'settings-plc', settings.plcUrl);
      await typeInto(page, 'settings-resolver', settings.handleResolver);
      await typeInto(page, 'settings-chat', settings.chatProxy);
      await page.click(byTestId('settings-save'));
      await page.waitForSelector(byTestId('settings-saved'), { timeout: UI_TIMEOUT });
    });
  } finally {
    await page.close();
  }
}

/** Popup page in a new tab (opened by `opener`, an extension frame): handle + app password. */
export async function signInFirefox(
  browser: PpBrowser,
  opener: PpFrame,
  extensionOrigin: string,
  account: DemoAccount,
): Promise<void> {
  const page = await openExtensionTabFirefox(browser, opener, `${extensionOrigin}/popup.html`);
  try {
    const outcome = await onPage(
      `signing in ${account.handle} in the popup`,
      () => page.evaluate(() => document.body.innerText),
      async () => {
        await typeInto(page, 'signin-identifier', account.handle);
        await typeInto(page, 'signin-password', account.appPassword);
        await page.click(byTestId('signin-submit'));
        return page.waitForSelector(`${byTestId('account-handle')}, ${byTestId('signin-error')}`, {
          timeout: SIGN_IN_TIMEOUT,
        });
      },
    );
    const found = await outcome!.evaluate((el) => ({
      testId: el.getAttribute('data-testid'),
      code: el.getAttribute('data-code'),
      text: el.textContent,
    }));
    if (found.testId === 'signin-error') throw new Error(`sign-in of ${account.handle} failed: ${found.code}: ${found.text}`);
    if (found.text !== `@${account.handle}`) throw new Error(`popup shows ${found.text}, expected @${account.handle}`);
  } finally {
    await page.close();
  }
}

export async function sendFirefox(frame: PpFrame, text: string): Promise<void> {
  await typeInto(frame, 'panel-composer', text);
  const composer = await frame.waitForSelector(byTestId('panel-composer'), { timeout: UI_TIMEOUT });
  await composer!.press('Enter');
}

// ---------------------------------------------------------------------------------------------
// Where plaintext must never be: the PDS (records and whole repos) and the chat service.

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

async function listAll(pdsUrl: string, did: string, collection: string): Promise<Array<{ uri: string; value: unknown }>> {
  const records: Array<{ uri: string; value: unknown }> = [];
  let cursor: string | undefined;
  do {
    const url = new URL('/xrpc/com.atproto.repo.listRecords', pdsUrl);
    url.searchParams.set('repo', did);
    url.searchParams.set('collection', collection);
    url.searchParams.set('limit', '100');
    if (cursor) url.searchParams.set('cursor', cursor);
    const page = (await getJson(url.href)) as { records: Array<{ uri: string; value: unknown }>; cursor?: string };
    records.push(...page.records);
    cursor = page.records.length > 0 ? page.cursor : undefined;
  } while (cursor);
  return records;
}

/**
 * Waits until every device `did` publishes has a key package in its repo. Sign-in tops the pool
 * up in the background, and a device without a package cannot be added to a group: a test that
 * needs the device in a group created right after its sign-in waits for this first.
 */
export async function waitForKeyPackages(pdsUrl: string, did: string, timeoutMs = UI_TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const devices = (await listAll(pdsUrl, did, 'org.atmessaging.device')).map((r) => r.uri.split('/').pop());
    const withPackages = new Set(
      (await listAll(pdsUrl, did, 'org.atmessaging.keyPackage')).map((r) => (r.value as { device?: string }).device),
    );
    const without = devices.filter((d) => !withPackages.has(d));
    if (devices.length > 0 && without.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${did}: devices without key packages after ${timeoutMs} ms: ${without.join(', ') || '(no devices)'}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The AT-URIs of every `org.atmessaging.device` record of a repo, read from the PDS directly. */
export async function deviceRecordUris(pdsUrl: string, did: string): Promise<string[]> {
  return (await listAll(pdsUrl, did, 'org.atmessaging.device')).map((r) => r.uri);
}

/** Every `org.atmessaging.event` record of a repo, as JSON text (all pages). */
export async function eventRecordsJson(pdsUrl: string, did: string): Promise<{ count: number; json: string }> {
  const records = await listAll(pdsUrl, did, 'org.atmessaging.event');
  return { count: records.length, json: JSON.stringify(records) };
}

/** The whole repo as CAR bytes (`com.atproto.sync.getRepo`). */
export async function repoCar(pdsUrl: string, did: string): Promise<Buffer> {
  const url = new URL('/xrpc/com.atproto.sync.getRepo', pdsUrl);
  url.searchParams.set('did', did);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`getRepo ${did} answered ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Which of `texts` occur (as UTF-8 bytes) in `haystack`. */
export function foundTexts(haystack: Buffer | string, texts: readonly string[]): string[] {
  const bytes = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack;
  return texts.filter((t) => bytes.includes(Buffer.from(t, 'utf8')));
}

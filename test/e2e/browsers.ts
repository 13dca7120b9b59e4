import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import puppeteer, { type Browser } from 'puppeteer-core';

/**
 * Launchers for the e2e tests: Debian's Chromium through playwright-core (CDP) and Debian's
 * Firefox ESR through puppeteer-core (WebDriver BiDi), each with the built extension loaded and
 * https://bsky.app mapped to the local replica. Neither browser can reach anything but
 * loopback: Chromium resolves bsky.app to 127.0.0.1 and has background networking off;
 * Firefox sends everything but loopback through the CONNECT proxy, which refuses all but
 * bsky.app:443.
 */

function which(command: string): string {
  const out = execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
  if (!out) throw new Error(`${command} not found on PATH`);
  return out;
}

function absolute(dir: string): string {
  return isAbsolute(dir) ? dir : resolve(dir);
}

export interface ChromiumOptions {
  /** The unpacked MV3 build, e.g. `.output/chrome-mv3`. */
  extensionDir: string;
  /** The replica's local port; bsky.app resolves to 127.0.0.1:<port>. */
  replicaPort: number;
  /** A profile directory; a fresh temp one (removed on close) if omitted. */
  userDataDir?: string;
  headless: boolean;
  /** Where the window opens on screen (with a display): two profiles side by side. */
  windowPosition?: { x: number; y: number };
}

export interface ChromiumSession {
  context: BrowserContext;
  /** From the service worker's URL (it depends on the extension's absolute path). */
  extensionId: string;
  /** `chrome-extension://<id>` */
  extensionOrigin: string;
  close(): Promise<void>;
}

export function chromiumArgs(extensionDir: string, replicaPort: number): string[] {
  const dir = absolute(extensionDir);
  return [
    `--disable-extensions-except=${dir}`,
    `--load-extension=${dir}`,
    `--host-resolver-rules=MAP bsky.app 127.0.0.1:${replicaPort}`,
    '--ignore-certificate-errors',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
}

export async function launchChromium(options: ChromiumOptions): Promise<ChromiumSession> {
  const ownDir = options.userDataDir === undefined;
  const userDataDir = options.userDataDir ?? mkdtempSync(join(tmpdir(), 'atm-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: which('chromium'),
      headless: options.headless,
      args: [
        ...chromiumArgs(options.extensionDir, options.replicaPort),
        ...(options.windowPosition ? [`--window-position=${options.windowPosition.x},${options.windowPosition.y}`] : []),
      ],
      ignoreHTTPSErrors: true,
      viewport: { width: 1100, height: 800 },
      timeout: 30_000,
    });
    const worker =
      context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')) ??
      (await context.waitForEvent('serviceworker', {
        predicate: (w) => w.url().startsWith('chrome-extension://'),
        timeout: 15_000,
      }));
    const extensionId = new URL(worker.url()).host;
    // ATM_DEBUG_WORKER=1 prints the extension worker's console (its contained errors) to the test log.
    if (process.env.ATM_DEBUG_WORKER) worker.on('console', (m) => console.log(`[worker ${options.userDataDir ?? ''}] ${m.text()}`));
    const ctx = context;
    return {
      context: ctx,
      extensionId,
      extensionOrigin: `chrome-extension://${extensionId}`,
      async close() {
        await ctx.close().catch(() => {});
        if (ownDir) await rm(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close().catch(() => {});
    if (ownDir) await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
}

export interface FirefoxOptions {
  /** The unpacked build, e.g. `.output/firefox-mv2`. */
  extensionDir: string;
  /** The CONNECT proxy's port (see test/net/connect-proxy.ts). */
  proxyPort: number;
  /** A profile directory; puppeteer makes (and removes) a temp one if omitted. */
  profileDir?: string;
  headless: boolean;
}

export interface FirefoxSession {
  browser: Browser;
  /** The add-on id (`browser_specific_settings.gecko.id`). */
  extensionId: string;
  /** `moz-extension://<uuid>`: the uuid is chosen here and handed to Firefox by pref. */
  extensionOrigin: string;
  close(): Promise<void>;
}

/**
 * Everything but loopback through the proxy (which only knows bsky.app:443), no DNS-over-HTTPS,
 * no chatter. Loopback goes direct: the extension talks to the local PLC and PDS
 * (http://localhost:<port>), which the CONNECT-only proxy would refuse.
 */
export function firefoxPrefs(proxyPort: number): Record<string, unknown> {
  return {
    'network.proxy.type': 1,
    'network.proxy.http': '127.0.0.1',
    'network.proxy.http_port': proxyPort,
    'network.proxy.ssl': '127.0.0.1',
    'network.proxy.ssl_port': proxyPort,
    'network.proxy.no_proxies_on': 'localhost, 127.0.0.1, [::1]',
    'network.proxy.allow_hijacking_localhost': false,
    'network.proxy.socks_remote_dns': true,
    'network.trr.mode': 5,
    'network.dns.disablePrefetch': true,
    'network.prefetch-next': false,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'security.OCSP.enabled': 0,
    'security.remote_settings.crlite_filters.enabled': false,
    'browser.safebrowsing.provider.mozilla.updateURL': '',
    'app.update.enabled': false,
    'app.normandy.enabled': false,
    'toolkit.telemetry.enabled': false,
    'datareporting.usage.uploadEnabled': false,
    'extensions.getAddons.showPane': false,
    'browser.discovery.enabled': false,
    'browser.newtabpage.activity-stream.feeds.system.topstories': false,
    'browser.newtabpage.activity-stream.feeds.topsites': false,
  };
}

function geckoId(extensionDir: string): string {
  const manifest = JSON.parse(readFileSync(join(extensionDir, 'manifest.json'), 'utf8')) as {
    browser_specific_settings?: { gecko?: { id?: string } };
  };
  const id = manifest.browser_specific_settings?.gecko?.id;
  if (!id) throw new Error(`${extensionDir}/manifest.json has no browser_specific_settings.gecko.id`);
  return id;
}

export async function launchFirefox(options: FirefoxOptions): Promise<FirefoxSession> {
  const dir = absolute(options.extensionDir);
  const id = geckoId(dir);
  // Firefox assigns each add-on a random moz-extension uuid, but takes a preset one from this
  // pref: tests then know the panel's origin before the add-on is installed.
  const uuid = randomUUID();
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: which('firefox-esr'),
    headless: options.headless,
    acceptInsecureCerts: true,
    ...(options.profileDir ? { userDataDir: options.profileDir } : {}),
    defaultViewport: { width: 1100, height: 800 },
    timeout: 60_000,
    extraPrefsFirefox: {
      ...firefoxPrefs(options.proxyPort),
      'extensions.webextensions.uuids': JSON.stringify({ [id]: uuid }),
    },
  });
  try {
    const installed = await browser.installExtension(dir);
    if (installed !== id) throw new Error(`installed ${installed}, expected ${id}`);
  } catch (error) {
    await browser.close().catch(() => {});
    throw error;
  }
  return {
    browser,
    extensionId: id,
    extensionOrigin: `moz-extension://${uuid}`,
    close: () => browser.close().catch(() => {}),
  };
}

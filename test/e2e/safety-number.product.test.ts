import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AtpAgent } from '@atproto/api';
import type { Frame, Page } from 'playwright-core';
import decodeQR from 'qr/decode.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createContactSafety } from '../../src/engine/contact-safety';
import type { ContactVerification } from '../../src/engine/ports';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { CHAT_SERVICE_ID } from '../net/chat-constants';
import { attachNetwork } from '../net/remote';
import { clock, shell, startDevice } from '../integration/device-harness';
import { launchChromium, type ChromiumSession } from './browsers';
import { configureAndSignInChromium, openPanelChromium } from './product';

const POLL = { timeout: 15_000, interval: 100 };
/** The warning follows a firehose hint from bob's PDS; give the worker's stream time to open. */
const WARNING = { timeout: 45_000, interval: 250 };
const SMALL_POOL = {
  oneTime: 2,
  lastResort: 1,
  lifetimeMs: 30 * 24 * 3600_000,
  renewBeforeMs: 0,
  graceMs: 0,
  consumedGraceMs: 0,
};

interface SafetySnapshot {
  badge: { state: string | null; text: string | null } | null;
  warning: string | null;
  dialogOpen: boolean;
  dialogState: string | null;
  groups: string[];
  focusedTestId: string | null;
}

/** What the panel shows about one member's safety number (evaluated in the panel frame). */
function safetySnapshot(did: string): SafetySnapshot {
  const badge = document.querySelector(`[data-testid="panel-safety-${did}"]`);
  const warning = document.querySelector('[data-testid="panel-safety-warning"]');
  const dialog = document.querySelector('[data-testid="safety-dialog"]') as HTMLDialogElement | null;
  const dialogState = document.querySelector('[data-testid="safety-dialog-state"]');
  const digits = document.querySelector('[data-testid="safety-number"]');
  return {
    badge: badge ? { state: badge.getAttribute('data-state'), text: badge.textContent } : null,
    warning: warning ? warning.textContent : null,
    dialogOpen: dialog !== null && dialog.open,
    dialogState: dialogState ? dialogState.getAttribute('data-state') : null,
    groups: digits ? Array.from(digits.children).map((g) => g.textContent || '') : [],
    focusedTestId: document.activeElement ? document.activeElement.getAttribute('data-testid') : null,
  };
}

/** Scans the QR code as rendered: a screenshot of it, decoded from its pixels. */
async function scanQr(frame: Frame): Promise<string> {
  const png = await frame.getByTestId('safety-qr').screenshot();
  const image = await frame.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    return { width: canvas.width, height: canvas.height, data: Array.from(data) };
  }, png.toString('base64'));
  return decodeQR({ width: image.width, height: image.height, data: Uint8Array.from(image.data) });
}

/**
 * Key-change safety, in Chromium against the real local PDS: alice
 * compares her safety number with bob (computed on bob's side in Node, from alice's repo), scans
 * its QR code, marks bob verified, and the badge says so. Then bob registers another device and,
 * without anyone reloading it, alice's panel turns the badge into a warning and shows a banner.
 * Fresh accounts, so the demo accounts of the other e2e files are left as they were; bob is a
 * device driven from Node (test/integration/device-harness.ts), which keeps this to one browser.
 */
describe('Chromium: verifying a safety number, then a key change', () => {
  const network = inject('network');
  const net = attachNetwork(network);
  const shot = (name: string) => join(inject('resultsDir'), `chromium-safety-${name}.png`);

  let alice: Account;
  let bob: Account;
  let bobAgent: AtpAgent;
  let convoId: string;
  let session: ChromiumSession;
  let page: Page;
  let panel: Frame;
  let userDataDir: string;
  const done = { verified: false };

  beforeAll(async () => {
    [alice, bob] = await Promise.all([
      net.createAccount(uniqueName('sfalice')),
      net.createAccount(uniqueName('sfbob')),
    ]);
    let aliceAgent: AtpAgent;
    [aliceAgent, bobAgent] = await Promise.all([
      resumeCreationSession(network.pdsUrl, alice),
      resumeCreationSession(network.pdsUrl, bob),
    ]);
    // bob's one device, with key packages so alice's extension can add it to the group.
    await startDevice('sf-bob1', bobAgent, bob.did, network.plcUrl, SMALL_POOL);
    const chat = aliceAgent.withProxy(CHAT_SERVICE_ID, network.chat.did);
    convoId = (await chat.chat.bsky.convo.getConvoForMembers({ members: [alice.did, bob.did] })).data.convo.id;
    userDataDir = await mkdtemp(join(tmpdir(), 'atm-e2e-safety-'));
    session = await launchChromium({
      extensionDir: inject('chromeExtensionDir'),
      replicaPort: inject('replicaPort'),
      headless: inject('headless'),
      userDataDir,
    });
    page = session.context.pages()[0] ?? (await session.context.newPage());
  });

  afterAll(async () => {
    if (page) await page.screenshot({ path: shot('last') }).catch(() => {});
    await session?.close();
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  });

  it("alice compares the number with bob's, scans the QR code and marks bob verified", async () => {
    await configureAndSignInChromium(session.context, session.extensionOrigin, network, alice);
    panel = await openPanelChromium(page, convoId);
    await panel.getByTestId('panel-encrypt-toggle').click();
    await expect
      .poll(() => panel.evaluate(safetySnapshot, bob.did), POLL)
      .toMatchObject({
        badge: { state: 'unverified', text: 'Not verified' },
        warning: null,
      });

    // What bob sees: his side of the number, computed in Node from alice's repo.
    const stored = new Map<string, ContactVerification>();
    const bobSide = createContactSafety({
      myDid: bob.did,
      ...shell(network.plcUrl),
      clock,
      store: {
        get: async (did) => stored.get(did),
        put: async (v) => void stored.set(v.did, v),
        delete: async (did) => void stored.delete(did),
      },
    });
    const bobSees = await bobSide.safetyNumber(alice.did);

    // The member list is a disclosure, closed while nothing needs attention: open it as a user would.
    if (!(await panel.getByTestId('panel-members').evaluate((el) => (el as HTMLDetailsElement).open))) {
      await panel.locator('[data-testid="panel-members"] > summary').click();
    }
    await panel.getByTestId(`panel-verify-${bob.did}`).click();
    await expect
      .poll(() => panel.evaluate(safetySnapshot, bob.did), POLL)
      .toMatchObject({
        dialogOpen: true,
        dialogState: 'unverified',
        groups: bobSees.groups,
      });
    expect(await scanQr(panel)).toBe(bobSees.qr);
    await page.screenshot({ path: shot('dialog') });

    await panel.getByTestId('safety-verify').click();
    await expect
      .poll(() => panel.evaluate(safetySnapshot, bob.did), POLL)
      .toMatchObject({
        dialogState: 'verified',
        badge: { state: 'verified', text: '✓ Verified' },
      });
    // Keyboard: Escape closes the dialog and focus goes back to the button that opened it.
    await panel.getByTestId('safety-dialog').press('Escape');
    await expect
      .poll(() => panel.evaluate(safetySnapshot, bob.did), POLL)
      .toMatchObject({
        dialogOpen: false,
        focusedTestId: `panel-verify-${bob.did}`,
      });
    done.verified = true;
  });

  it("bob registers another device: alice's panel turns the badge into a warning, with a banner", async () => {
    expect(done.verified, 'needs the earlier step "verified"').toBe(true);
    await startDevice('sf-bob2', bobAgent, bob.did, network.plcUrl, SMALL_POOL);
    // Nobody reloads the panel: the background hears of bob's new device record and re-checks.
    await expect
      .poll(() => panel.evaluate(safetySnapshot, bob.did), WARNING)
      .toMatchObject({
        badge: { state: 'changed', text: '⚠ Keys changed' },
      });
    const shown = await panel.evaluate(safetySnapshot, bob.did);
    expect(shown.warning).toContain('Keys changed.');
    expect(shown.warning).toContain('different devices than when you verified them');
    await page.screenshot({ path: shot('warning') });
  });
});

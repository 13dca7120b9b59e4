// @vitest-environment happy-dom
import decodeQR from 'qr/decode.js';
import { act } from 'preact/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { ContactSafetyView, ConvoView, MemberView, SafetyNumberView } from '../../../src/rpc/methods';
import { Panel } from '../../../src/ui/panel/Panel';
import { byTestId, callsOf, click, fakeRpc, mount, rpcError, settle, unmountAll } from './harness';

const CONVO = '3kconvo';
const ME = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const CAROL = 'did:plc:cccccccccccccccccccccccc';
const FP1 = '11'.repeat(32);
const FP2 = '22'.repeat(32);
const QR1 = `ATMESSAGING:SAFETY-NUMBER:1:${'0A'.repeat(32)}:${'F1'.repeat(32)}`;
const QR2 = `ATMESSAGING:SAFETY-NUMBER:1:${'0B'.repeat(32)}:${'F2'.repeat(32)}`;
const GROUPS1 = [
  '12345',
  '67890',
  '11111',
  '22222',
  '33333',
  '44444',
  '55555',
  '66666',
  '77777',
  '88888',
  '99999',
  '00000',
];
const GROUPS2 = GROUPS1.map((g) => g.split('').reverse().join('')).reverse();

function member(did: string, over: Partial<MemberView> = {}): MemberView {
  return {
    did,
    handle: `${did.slice(8, 11)}.test`,
    devices: [{ uri: `at://${did}/org.atmessaging.device/3laaaaaaaaaa2`, verified: true }],
    withoutExtension: false,
    ...over,
  };
}

function view(bob: Partial<MemberView>, carol: Partial<MemberView> = { safety: 'unverified' }): ConvoView {
  return {
    status: { convoId: CONVO, encrypted: true },
    messages: [],
    members: [member(ME), member(BOB, { displayName: 'Bob', ...bob }), member(CAROL, carol)],
  };
}

function number(over: Partial<SafetyNumberView> = {}): SafetyNumberView {
  return {
    did: BOB,
    groups: GROUPS1,
    qr: QR1,
    fingerprint: FP1,
    state: 'unverified',
    devices: 1,
    rejected: 0,
    ...over,
  };
}

function panelRpc(initial: ConvoView) {
  let current = initial;
  const rpc = fakeRpc({
    'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
    'auth.status': () => ({ signedIn: true, did: ME, handle: 'me.test', pds: 'https://pds.test', deviceUri: '' }),
    'convo.view': () => current,
    'convo.status': () => current.status,
  });
  return Object.assign(rpc, { setView: (v: ConvoView) => (current = v) });
}

async function open(rpc: ReturnType<typeof fakeRpc>) {
  const root = mount(rpc, <Panel search={`?convo=${CONVO}`} />);
  await settle();
  return root;
}

/** Reads the QR code back from the SVG the dialog drew, as a camera would see it. */
function scanQr(svg: SVGElement): string {
  const size = Number(svg.getAttribute('viewBox')!.split(' ')[2]);
  const dark = new Set<string>();
  for (const m of svg
    .querySelector('path')!
    .getAttribute('d')!
    .matchAll(/M(\d+) (\d+)h1v1h-1z/g))
    dark.add(`${m[1]},${m[2]}`);
  const scale = 4;
  const width = size * scale;
  const data = new Uint8Array(width * width * 4);
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < width; x++) {
      const v = dark.has(`${Math.floor(x / scale)},${Math.floor(y / scale)}`) ? 0 : 255;
      data.set([v, v, v, 255], (y * width + x) * 4);
    }
  }
  return decodeQR({ width, height: width, data });
}

afterEach(unmountAll);

describe('safety badges in the member list', () => {
  it('say each state in words, for everyone but you, with a labelled button to verify', async () => {
    const rpc = panelRpc(view({ safety: 'verified' }, { safety: 'unverified' }));
    const root = await open(rpc);
    expect(root.querySelector(`[data-testid="panel-safety-${ME}"]`)).toBeNull();
    const bob = byTestId(root, `panel-safety-${BOB}`);
    expect([bob.dataset.state, bob.textContent]).toEqual(['verified', '✓ Verified']);
    const carol = byTestId(root, `panel-safety-${CAROL}`);
    expect([carol.dataset.state, carol.textContent]).toEqual(['unverified', 'Not verified']);
    expect(byTestId(root, `panel-verify-${CAROL}`).getAttribute('aria-label')).toBe(
      'Verify: safety number with @ccc.test',
    );
    expect(byTestId(root, `panel-verify-${BOB}`).getAttribute('aria-haspopup')).toBe('dialog');
    expect(root.querySelector('[data-testid="panel-safety-warning"]')).toBeNull();
  });

  it('show nothing for someone without devices, nor before the background could check', async () => {
    const rpc = panelRpc(view({ safety: undefined }, { withoutExtension: true, devices: [], safety: 'unverified' }));
    const root = await open(rpc);
    expect(root.querySelector(`[data-testid="panel-safety-${BOB}"]`)).toBeNull();
    expect(root.querySelector(`[data-testid="panel-safety-${CAROL}"]`)).toBeNull();
    expect(root.querySelector(`[data-testid="panel-verify-${CAROL}"]`)).toBeNull();
  });
});

describe('the verify dialog', () => {
  it('shows the number in 12 groups and a QR code of it, and verifies exactly the fingerprint shown', async () => {
    const rpc = panelRpc(view({ safety: 'unverified' }));
    rpc.handlers['contact.safetyNumber'] = () => number();
    rpc.handlers['contact.verify'] = ({ did }): ContactSafetyView => ({ did, state: 'verified', verifiedAt: 5 });
    const root = await open(rpc);
    await click(byTestId(root, `panel-verify-${BOB}`));

    const dialog = byTestId<HTMLDialogElement>(root, 'safety-dialog');
    expect(dialog.open).toBe(true);
    expect(dialog.tagName).toBe('DIALOG');
    expect(document.getElementById(dialog.getAttribute('aria-labelledby')!)!.textContent).toBe(
      'Safety number with Bob',
    );
    expect(callsOf(rpc, 'contact.safetyNumber')).toEqual([{ did: BOB }]);
    const groups = Array.from(byTestId(dialog, 'safety-number').children).map((g) => g.textContent);
    expect(groups).toEqual(GROUPS1);
    // Screen readers get the digits one by one, not "twelve thousand three hundred…".
    expect(dialog.querySelector('.sr-only')!.textContent).toContain('1 2 3 4 5, 6 7 8 9 0, 1 1 1 1 1');
    const qr = byTestId(dialog, 'safety-qr') as unknown as SVGElement;
    expect(qr.getAttribute('role')).toBe('img');
    expect(scanQr(qr)).toBe(QR1);
    expect(byTestId(dialog, 'safety-dialog-state').dataset.state).toBe('unverified');

    await click(byTestId(dialog, 'safety-verify'));
    expect(callsOf(rpc, 'contact.verify')).toEqual([{ did: BOB, fingerprint: FP1 }]);
    expect(byTestId(dialog, 'safety-dialog-state').dataset.state).toBe('verified');
    expect(dialog.querySelector('[data-testid="safety-verify"]')).toBeNull();
    expect(byTestId(dialog, 'safety-unverify').textContent).toBe('Unverify');
    // The member list shows it at once, before the background's re-read.
    expect(byTestId(root, `panel-safety-${BOB}`).dataset.state).toBe('verified');

    await click(byTestId(dialog, 'safety-close'));
    expect(root.querySelector('[data-testid="safety-dialog"]')).toBeNull();
  });

  it('refuses to verify a number that changed while it was open, and shows the new one', async () => {
    const rpc = panelRpc(view({ safety: 'unverified' }));
    let shown = number();
    rpc.handlers['contact.safetyNumber'] = () => shown;
    rpc.handlers['contact.verify'] = () => {
      throw rpcError('SafetyNumberChanged');
    };
    const root = await open(rpc);
    await click(byTestId(root, `panel-verify-${BOB}`));
    shown = number({ groups: GROUPS2, qr: QR2, fingerprint: FP2 });
    await click(byTestId(root, 'safety-verify'));
    expect(byTestId(root, 'safety-failure').textContent).toContain("Bob's devices changed while this was open");
    expect(byTestId(root, 'safety-failure').getAttribute('role')).toBe('alert');
    expect(Array.from(byTestId(root, 'safety-number').children).map((g) => g.textContent)).toEqual(GROUPS2);
    expect(byTestId(root, `panel-safety-${BOB}`).dataset.state).toBe('unverified');
    expect(callsOf(rpc, 'contact.verify')).toEqual([{ did: BOB, fingerprint: FP1 }]);
  });

  it('unverifies a verified contact, and closes on Escape', async () => {
    const rpc = panelRpc(view({ safety: 'verified' }));
    rpc.handlers['contact.safetyNumber'] = () => number({ state: 'verified', verifiedAt: 5 });
    rpc.handlers['contact.unverify'] = ({ did }) => ({ did, state: 'unverified' });
    const root = await open(rpc);
    const opener = byTestId(root, `panel-verify-${BOB}`);
    await click(opener);
    expect(root.querySelector('[data-testid="safety-verify"]')).toBeNull();
    await click(byTestId(root, 'safety-unverify'));
    expect(callsOf(rpc, 'contact.unverify')).toEqual([{ did: BOB }]);
    expect(byTestId(root, `panel-safety-${BOB}`).dataset.state).toBe('unverified');

    const dialog = byTestId<HTMLDialogElement>(root, 'safety-dialog');
    // What Escape does to a modal dialog: the browser closes it.
    await act(() => dialog.close());
    await settle();
    expect(root.querySelector('[data-testid="safety-dialog"]')).toBeNull();
  });

  it('says when the number could not be computed, without offering to verify', async () => {
    const rpc = panelRpc(view({ safety: 'unverified' }));
    rpc.handlers['contact.safetyNumber'] = () => {
      throw rpcError('Network');
    };
    const root = await open(rpc);
    await click(byTestId(root, `panel-verify-${BOB}`));
    expect(byTestId(root, 'safety-error').textContent).toContain('(Network)');
    expect(root.querySelector('[data-testid="safety-verify"]')).toBeNull();
  });

  it('names device records that failed their proof', async () => {
    const rpc = panelRpc(view({ safety: 'unverified' }));
    rpc.handlers['contact.safetyNumber'] = () => number({ rejected: 2 });
    const root = await open(rpc);
    await click(byTestId(root, `panel-verify-${BOB}`));
    expect(byTestId(root, 'safety-rejected').textContent).toContain('2 device records of Bob failed verification');
  });
});

describe('the key-change warning', () => {
  it('shows a banner with words and a badge, opens the member list, and goes once re-verified', async () => {
    const rpc = panelRpc(view({ safety: 'changed' }));
    rpc.handlers['contact.safetyNumber'] = () => number({ state: 'changed', verifiedAt: 5 });
    rpc.handlers['contact.verify'] = ({ did }) => ({ did, state: 'verified', verifiedAt: 9 });
    const root = await open(rpc);
    const banner = byTestId(root, 'panel-safety-warning');
    expect(banner.getAttribute('role')).toBe('alert');
    expect(banner.textContent).toContain('Keys changed.');
    expect(banner.textContent).toContain('Bob has different devices than when you verified them');
    const badge = byTestId(root, `panel-safety-${BOB}`);
    expect([badge.dataset.state, badge.textContent]).toEqual(['changed', '⚠ Keys changed']);
    expect(byTestId<HTMLDetailsElement>(root, 'panel-members').open).toBe(true);

    await click(byTestId(root, `panel-safety-compare-${BOB}`));
    expect(byTestId(root, 'safety-dialog-state').dataset.state).toBe('changed');
    await click(byTestId(root, 'safety-verify'));
    expect(callsOf(rpc, 'contact.verify')).toEqual([{ did: BOB, fingerprint: FP1 }]);

    // The background re-reads the view after a verification: the banner goes, the dialog stays.
    rpc.setView(view({ safety: 'verified' }));
    rpc.emit({ rpc: 1, event: 'convo.changed', data: { convoId: CONVO } });
    await settle();
    expect(root.querySelector('[data-testid="panel-safety-warning"]')).toBeNull();
    expect(byTestId(root, 'safety-dialog-state').dataset.state).toBe('verified');
    expect(byTestId(root, `panel-safety-${BOB}`).dataset.state).toBe('verified');
    // The banner's button is gone: closing puts focus on the member's own button, not nowhere.
    await click(byTestId(root, 'safety-close'));
    expect(root.querySelector('[data-testid="safety-dialog"]')).toBeNull();
    expect(document.activeElement).toBe(byTestId(root, `panel-verify-${BOB}`));
  });

  it('appears on a re-read when a verified contact turns changed', async () => {
    const rpc = panelRpc(view({ safety: 'verified' }));
    const root = await open(rpc);
    expect(root.querySelector('[data-testid="panel-safety-warning"]')).toBeNull();
    rpc.setView(view({ safety: 'changed' }));
    rpc.emit({ rpc: 1, event: 'convo.changed', data: { convoId: CONVO } });
    await settle();
    expect(byTestId(root, 'panel-safety-warning').textContent).toContain('Bob has different devices');
    expect(byTestId(root, `panel-safety-${BOB}`).dataset.state).toBe('changed');
  });
});

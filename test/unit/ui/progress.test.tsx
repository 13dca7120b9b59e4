// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import type { ConvoStatus, ConvoView } from '../../../src/rpc/methods';
import type { ConvoProgress } from '../../../src/rpc/wire';
import { Panel } from '../../../src/ui/panel/Panel';
import { byTestId, callsOf, click, fakeRpc, mount, rpcError, settle, unmountAll } from './harness';

const CONVO = '3kbiggroup';
const ME = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';

function panelRpc() {
  let current: ConvoView = { status: { convoId: CONVO, encrypted: false }, messages: [], members: [] };
  let finish: ((status: ConvoStatus) => void) | undefined;
  let fail: ((error: unknown) => void) | undefined;
  const rpc = fakeRpc({
    'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
    'auth.status': () => ({ signedIn: true, did: ME, handle: 'me.test', pds: 'https://pds.test', deviceUri: `at://${ME}/org.atmessaging.device/mine` }),
    'convo.view': () => current,
    'convo.status': () => current.status,
    // Turning encryption on waits until the test says how it ended.
    'convo.setEncrypted': () =>
      new Promise<ConvoStatus>((resolve, reject) => {
        finish = resolve;
        fail = reject;
      }),
  });
  return Object.assign(rpc, {
    finish(status: ConvoStatus) {
      current = { ...current, status };
      finish!(status);
    },
    fail: (error: unknown) => fail!(error),
  });
}

const progress = (over: Partial<ConvoProgress> = {}): ConvoProgress => ({ convoId: CONVO, phase: 'devices', done: 23, total: 50, ...over });

async function openAndTurnOn() {
  const rpc = panelRpc();
  const root = mount(rpc, <Panel search={`?convo=${CONVO}`} />);
  await settle();
  await click(byTestId(root, 'panel-encrypt-toggle'));
  return { rpc, root };
}

const bar = (root: HTMLElement) => root.querySelector<HTMLElement>('[role="progressbar"]');

afterEach(unmountAll);

describe('panel progress while encryption is turned on', () => {
  it('shows how far the background got, as a progressbar and as text', async () => {
    const { rpc, root } = await openAndTurnOn();
    expect(bar(root)).toBeNull();

    rpc.emit({ rpc: 1, event: 'convo.progress', data: progress() });
    await settle();
    expect(bar(root)?.getAttribute('aria-valuenow')).toBe('23');
    expect(bar(root)?.getAttribute('aria-valuemax')).toBe('50');
    expect(bar(root)?.getAttribute('aria-valuemin')).toBe('0');
    expect(byTestId(root, 'panel-progress-text').textContent).toBe('Adding devices: 23 of 50');

    rpc.emit({ rpc: 1, event: 'convo.progress', data: progress({ phase: 'invites', done: 7, total: 61 }) });
    await settle();
    expect(bar(root)?.getAttribute('aria-valuenow')).toBe('7');
    expect(bar(root)?.getAttribute('aria-valuemax')).toBe('61');
    expect(byTestId(root, 'panel-progress-text').textContent).toBe('Preparing invites: 7 of 61');
  });

  it("ignores other conversations' progress and does not re-read the view on progress", async () => {
    const { rpc, root } = await openAndTurnOn();
    const reads = callsOf(rpc, 'convo.view').length;
    rpc.emit({ rpc: 1, event: 'convo.progress', data: progress({ convoId: 'other' }) });
    await settle();
    expect(bar(root)).toBeNull();
    for (let done = 1; done <= 5; done++) rpc.emit({ rpc: 1, event: 'convo.progress', data: progress({ done }) });
    await settle();
    expect(bar(root)?.getAttribute('aria-valuenow')).toBe('5');
    expect(callsOf(rpc, 'convo.view')).toHaveLength(reads);
  });

  it('goes away when the operation ends', async () => {
    const { rpc, root } = await openAndTurnOn();
    rpc.emit({ rpc: 1, event: 'convo.progress', data: progress({ done: 50 }) });
    await settle();
    expect(bar(root)).not.toBeNull();
    rpc.finish({ convoId: CONVO, encrypted: true });
    await settle();
    expect(bar(root)).toBeNull();
    expect(byTestId(root, 'panel-status').textContent).toBe(`Conversation ${CONVO}: encryption on`);
  });

  it('goes away when the operation fails, and the failure is shown', async () => {
    const { rpc, root } = await openAndTurnOn();
    rpc.emit({ rpc: 1, event: 'convo.progress', data: progress() });
    await settle();
    rpc.fail(rpcError('Network'));
    await settle();
    expect(bar(root)).toBeNull();
    expect(byTestId(root, 'panel-failure').textContent).toContain('Network');
  });

  it('goes away on the status the background pushes at the end (a panel opened meanwhile)', async () => {
    const rpc = panelRpc();
    const root = mount(rpc, <Panel search={`?convo=${CONVO}`} />);
    await settle();
    rpc.emit({ rpc: 1, event: 'convo.progress', data: progress() });
    await settle();
    expect(bar(root)).not.toBeNull();
    rpc.emit({ rpc: 1, event: 'convo.status', data: { convoId: CONVO, encrypted: true } });
    await settle();
    expect(bar(root)).toBeNull();
  });
});

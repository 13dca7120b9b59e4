// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import type { ConvoView } from '../../../src/rpc/methods';
import { Panel } from '../../../src/ui/panel/Panel';
import { byTestId, fakeRpc, mount, settle, unmountAll } from './harness';

const CONVO = '3kconvo';
const ME = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const JOINED_AT = Date.UTC(2025, 4, 6, 9, 30);

function view(over: Partial<ConvoView>): ConvoView {
  return {
    status: { convoId: CONVO, encrypted: true },
    members: [{ did: ME, handle: 'me.test', devices: [], withoutExtension: false }],
    messages: [
      {
        id: '1'.padStart(32, '0'),
        text: 'after the join',
        sentAt: JOINED_AT + 60_000,
        senderDid: ME,
        senderDevice: `at://${ME}/org.atmessaging.device/d1`,
        own: true,
        status: 'sent',
      },
    ],
    ...over,
  };
}

async function open(v: ConvoView) {
  const rpc = fakeRpc({
    'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
    'auth.status': () => ({ signedIn: true, did: ME, handle: 'me.test', pds: 'https://pds.test', deviceUri: '' }),
    'convo.view': () => v,
    'convo.status': () => v.status,
  });
  const root = mount(rpc, <Panel search={`?convo=${CONVO}`} />);
  await settle();
  return root;
}

afterEach(unmountAll);

describe('new-device notice', () => {
  it('says at the top of the history, with the date, that what came before this device joined is unreadable here', async () => {
    const root = await open(view({ joinedAt: JOINED_AT }));
    const log = byTestId(root, 'panel-log');
    const notice = byTestId(root, 'panel-joined-notice');
    expect(log.firstElementChild).toBe(notice);
    expect(notice.textContent).toContain('This device joined the encrypted conversation on');
    expect(notice.textContent).toContain("Messages sent before then can't be read on this device.");
    expect(notice.querySelector('time')!.getAttribute('datetime')).toBe(new Date(JOINED_AT).toISOString());
    // The history follows it.
    expect(byTestId(root, 'panel-message-text').textContent).toBe('after the join');
  });

  it('is not shown on the device that created the group', async () => {
    const root = await open(view({}));
    expect(root.querySelector('[data-testid="panel-joined-notice"]')).toBeNull();
    expect(byTestId(root, 'panel-message-text').textContent).toBe('after the join');
  });
});

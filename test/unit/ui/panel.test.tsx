// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import type { ConvoView, MessageView } from '../../../src/rpc/methods';
import { Panel } from '../../../src/ui/panel/Panel';
import {
  allByTestId,
  byTestId,
  callsOf,
  click,
  fakeRpc,
  mount,
  press,
  rpcError,
  settle,
  type,
  unmountAll,
} from './harness';

const CONVO = '3kconvo';
const ME = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const CAROL = 'did:plc:cccccccccccccccccccccccc';
const id = (n: number) => n.toString(16).padStart(32, '0');

function message(n: number, over: Partial<MessageView> = {}): MessageView {
  return {
    id: id(n),
    text: `message ${n}`,
    sentAt: 1_700_000_000_000 + n * 60_000,
    senderDid: BOB,
    senderDevice: `at://${BOB}/org.atmessaging.device/bobphone`,
    own: false,
    status: 'sent',
    ...over,
  };
}

function view(over: Partial<ConvoView> = {}): ConvoView {
  return {
    status: { convoId: CONVO, encrypted: true },
    messages: [],
    members: [
      {
        did: ME,
        handle: 'me.test',
        devices: [{ uri: `at://${ME}/org.atmessaging.device/mine`, verified: true }],
        withoutExtension: false,
      },
      {
        did: BOB,
        handle: 'bob.test',
        displayName: 'Bob',
        devices: [{ uri: `at://${BOB}/org.atmessaging.device/bobphone`, verified: false }],
        withoutExtension: false,
      },
      { did: CAROL, handle: 'carol.test', devices: [], withoutExtension: true },
    ],
    ...over,
  };
}

function panelRpc(initial: ConvoView) {
  let current = initial;
  const rpc = fakeRpc({
    'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
    'auth.status': () => ({
      signedIn: true,
      did: ME,
      handle: 'me.test',
      pds: 'https://pds.test',
      deviceUri: `at://${ME}/org.atmessaging.device/mine`,
    }),
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

afterEach(unmountAll);

describe('panel', () => {
  it('shows the history oldest first, named by the member list, with the status line kept', async () => {
    const rpc = panelRpc(
      view({
        messages: [
          message(3, { own: true, senderDid: ME, status: 'sending' }),
          message(1),
          message(2, { senderDid: CAROL }),
        ],
      }),
    );
    const root = await open(rpc);
    expect(byTestId(root, 'panel-status').textContent).toBe(`Conversation ${CONVO}: encryption on`);
    const items = allByTestId(root, 'panel-message');
    expect(items.map((m) => m.querySelector('[data-testid="panel-message-text"]')!.textContent)).toEqual([
      'message 1',
      'message 2',
      'message 3',
    ]);
    expect(items.map((m) => m.querySelector('.sender')!.textContent)).toEqual(['Bob', '@carol.test', 'You']);
    expect(items[2]!.dataset.own).toBe('true');
    expect(items[2]!.dataset.status).toBe('sending');
    expect(root.querySelector('[role="log"]')!.getAttribute('aria-live')).toBe('polite');
  });

  it('sends on Enter and not on Shift+Enter, clearing the composer once sent', async () => {
    const rpc = panelRpc(view());
    rpc.handlers['convo.send'] = ({ text }) => message(9, { text, own: true, senderDid: ME, status: 'sending' });
    const root = await open(rpc);
    const composer = byTestId<HTMLTextAreaElement>(root, 'panel-composer');
    expect(root.querySelector(`label[for="${composer.id}"]`)?.textContent).toBe('Encrypted message');

    await type(composer, 'hello\nworld');
    const shifted = await press(composer, 'Enter', { shiftKey: true });
    expect(shifted.defaultPrevented).toBe(false);
    expect(callsOf(rpc, 'convo.send')).toEqual([]);

    const enter = await press(composer, 'Enter');
    expect(enter.defaultPrevented).toBe(true);
    expect(callsOf(rpc, 'convo.send')).toEqual([{ convoId: CONVO, text: 'hello\nworld' }]);
    expect(composer.value).toBe('');
    const sent = allByTestId(root, 'panel-message');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.dataset.status).toBe('sending');
  });

  it('keeps the text and says why when sending fails', async () => {
    const rpc = panelRpc(view());
    rpc.handlers['convo.send'] = () => {
      throw rpcError('Network');
    };
    const root = await open(rpc);
    const composer = byTestId<HTMLTextAreaElement>(root, 'panel-composer');
    await type(composer, 'keep me');
    await click(byTestId(root, 'panel-send'));
    expect(composer.value).toBe('keep me');
    expect(byTestId(root, 'panel-send-error').getAttribute('role')).toBe('alert');
    expect(byTestId(root, 'panel-send-error').textContent).toContain('Network');
  });

  it('counts graphemes and blocks sending past 1,000', async () => {
    const rpc = panelRpc(view());
    rpc.handlers['convo.send'] = ({ text }) => message(9, { text, own: true });
    const root = await open(rpc);
    const composer = byTestId<HTMLTextAreaElement>(root, 'panel-composer');

    // 1,000 user-perceived characters, 2,000 code units: allowed.
    await type(composer, 'e\u0301'.repeat(1000));
    expect(byTestId(root, 'panel-counter').textContent).toContain('1,000 / 1,000');
    expect(root.querySelector('[data-testid="panel-too-long"]')).toBeNull();

    await type(composer, 'a'.repeat(1001));
    expect(byTestId(root, 'panel-counter').textContent).toContain('1,001 / 1,000');
    expect(byTestId(root, 'panel-too-long').getAttribute('role')).toBe('alert');
    expect(byTestId(root, 'panel-send').getAttribute('aria-disabled')).toBe('true');
    await press(composer, 'Enter');
    await click(byTestId(root, 'panel-send'));
    expect(callsOf(rpc, 'convo.send')).toEqual([]);
    expect(composer.value).toHaveLength(1001);
  });

  it('offers Retry on a failed own message and shows the view the retry returns', async () => {
    const failed = message(4, { own: true, senderDid: ME, status: 'failed' });
    const rpc = panelRpc(view({ messages: [failed] }));
    rpc.handlers['convo.retry'] = () => view({ messages: [{ ...failed, status: 'sending' }] });
    const root = await open(rpc);
    expect(byTestId(root, 'panel-message').textContent).toContain('Not sent');
    await click(byTestId(root, 'panel-retry'));
    expect(callsOf(rpc, 'convo.retry')).toEqual([{ convoId: CONVO, messageId: failed.id }]);
    expect(byTestId(root, 'panel-message').dataset.status).toBe('sending');
    expect(root.querySelector('[data-testid="panel-retry"]')).toBeNull();
  });

  it('lists members with device verification and invites those without the extension', async () => {
    const rpc = panelRpc(view());
    rpc.handlers['convo.invite'] = () => ({ sent: true });
    const root = await open(rpc);
    const members = byTestId(root, 'panel-members');
    expect(members.textContent).toContain('(you)');
    expect(members.textContent).toContain('not verified');
    const invite = byTestId(root, `panel-invite-${CAROL}`);
    expect(invite.getAttribute('aria-label')).toBe('Invite @carol.test');
    await click(invite);
    expect(callsOf(rpc, 'convo.invite')).toEqual([{ convoId: CONVO, did: CAROL }]);
    expect(byTestId(root, `panel-invite-${CAROL}`).textContent).toBe('Invite sent');
    await click(byTestId(root, `panel-invite-${CAROL}`));
    expect(callsOf(rpc, 'convo.invite')).toHaveLength(1);
  });

  it('re-reads the view on convo.changed for its own conversation only', async () => {
    const rpc = panelRpc(view());
    const root = await open(rpc);
    const reads = () => callsOf(rpc, 'convo.view').length;
    const before = reads();
    rpc.emit({ rpc: 1, event: 'convo.changed', data: { convoId: 'other' } });
    await settle();
    expect(reads()).toBe(before);

    rpc.setView(view({ messages: [message(1)] }));
    rpc.emit({ rpc: 1, event: 'convo.changed', data: { convoId: CONVO } });
    await settle();
    expect(allByTestId(root, 'panel-message')).toHaveLength(1);
  });

  it('marks the conversation read while the panel has focus', async () => {
    const rpc = panelRpc(view({ status: { convoId: CONVO, encrypted: true, unread: 2 } }));
    rpc.handlers['convo.markRead'] = () => ({ convoId: CONVO, encrypted: true, unread: 0 });
    const root = await open(rpc);
    expect(callsOf(rpc, 'convo.markRead')).toEqual([{ convoId: CONVO }]);
    expect(root.querySelector('[data-testid="panel-unread"]')).toBeNull();
  });

  it('asks to sign in from the toolbar when the background says NotSignedIn', async () => {
    const rpc = panelRpc(view());
    rpc.handlers['auth.status'] = () => {
      throw rpcError('UnknownMethod');
    };
    rpc.handlers['convo.view'] = () => {
      throw rpcError('NotSignedIn');
    };
    const root = await open(rpc);
    expect(byTestId(root, 'panel-signed-out').textContent).toBe('Sign in from the atmessaging toolbar button');
    expect(root.querySelector('[data-testid="panel-composer"]')).toBeNull();
  });

  it('asks to sign in when auth.status says signed out', async () => {
    const rpc = panelRpc(view());
    rpc.handlers['auth.status'] = () => ({ signedIn: false });
    const root = await open(rpc);
    expect(allByTestId(root, 'panel-signed-out')).toHaveLength(1);
    expect(callsOf(rpc, 'convo.view')).toEqual([]);
  });
});

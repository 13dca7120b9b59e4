// @vitest-environment happy-dom
import { act } from 'preact/test-utils';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConvoView, MemberView } from '../../../src/rpc/methods';
import { initialsOf, safeAvatarUrl } from '../../../src/ui/panel/Avatar';
import { Panel } from '../../../src/ui/panel/Panel';
import { allByTestId, byTestId, fakeRpc, mount, settle, unmountAll } from './harness';

const CONVO = '3kconvo';
const ME = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const CAROL = 'did:plc:cccccccccccccccccccccccc';
const BOB_AVATAR = 'https://cdn.bsky.app/img/avatar/plain/did:plc:bbbbbbbbbbbbbbbbbbbbbbbb/bafkreibob@jpeg';

function member(did: string, over: Partial<MemberView>): MemberView {
  return { did, devices: [{ uri: `at://${did}/org.atmessaging.device/d1`, verified: true }], withoutExtension: false, ...over };
}

function view(members: MemberView[]): ConvoView {
  return {
    status: { convoId: CONVO, encrypted: true },
    members,
    messages: [
      {
        id: '1'.padStart(32, '0'),
        text: 'hello from bob',
        sentAt: 1_700_000_000_000,
        senderDid: BOB,
        senderDevice: `at://${BOB}/org.atmessaging.device/d1`,
        own: false,
        status: 'sent',
      },
      {
        id: '2'.padStart(32, '0'),
        text: 'hello from me',
        sentAt: 1_700_000_060_000,
        senderDid: ME,
        senderDevice: `at://${ME}/org.atmessaging.device/d1`,
        own: true,
        status: 'sent',
      },
    ],
  };
}

async function open(members: MemberView[]) {
  const rpc = fakeRpc({
    'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
    'auth.status': () => ({ signedIn: true, did: ME, handle: 'me.test', pds: 'https://pds.test', deviceUri: '' }),
    'convo.view': () => view(members),
    'convo.status': () => ({ convoId: CONVO, encrypted: true }),
  });
  const root = mount(rpc, <Panel search={`?convo=${CONVO}`} />);
  await settle();
  return root;
}

const avatarIn = (root: HTMLElement, testId: string) => byTestId(root, testId).querySelector<HTMLElement>('[data-testid="avatar"]');

afterEach(unmountAll);

describe('avatars', () => {
  it('loads only https URLs', () => {
    expect(safeAvatarUrl(BOB_AVATAR)).toBe(BOB_AVATAR);
    for (const bad of [
      undefined,
      '',
      'http://cdn.bsky.app/a.jpg',
      'javascript:alert(1)',
      'data:image/png;base64,AAAA',
      '//cdn.bsky.app/a.jpg',
      '/img/a.jpg',
      'https://',
      'not a url',
    ]) {
      expect(safeAvatarUrl(bad), String(bad)).toBeUndefined();
    }
  });

  it('falls back to initials from the display name, else the handle', () => {
    expect(initialsOf({ displayName: 'Alice  Liddell Smith', handle: 'alice.test' })).toBe('AL');
    expect(initialsOf({ displayName: ' ', handle: 'bob.test' })).toBe('B');
    expect(initialsOf({ displayName: '🦋 émile' })).toBe('🦋É');
    expect(initialsOf({})).toBe('?');
    expect(initialsOf(undefined)).toBe('?');
  });

  it("shows the member's picture without a referrer, named for screen readers, in the member list", async () => {
    const root = await open([
      member(ME, { handle: 'me.test' }),
      member(BOB, { handle: 'bob.test', displayName: 'Bob Builder', avatar: BOB_AVATAR }),
    ]);
    const img = avatarIn(root, `panel-member-${BOB}`) as HTMLImageElement;
    expect(img.tagName).toBe('IMG');
    expect(img.getAttribute('src')).toBe(BOB_AVATAR);
    expect(img.getAttribute('referrerpolicy')).toBe('no-referrer');
    expect(img.getAttribute('alt')).toBe('Profile picture of Bob Builder');
    // No picture: initials, still named.
    const mine = avatarIn(root, `panel-member-${ME}`)!;
    expect(mine.tagName).toBe('SPAN');
    expect(mine.textContent).toBe('M');
    expect(mine.getAttribute('role')).toBe('img');
    expect(mine.getAttribute('aria-label')).toBe('Profile picture of @me.test');
  });

  it("shows the sender's picture beside others' messages (decorative: the name is written beside it), not beside own ones", async () => {
    const root = await open([member(ME, { handle: 'me.test' }), member(BOB, { displayName: 'Bob Builder', avatar: BOB_AVATAR })]);
    const [fromBob, fromMe] = allByTestId(root, 'panel-message');
    const img = fromBob!.querySelector<HTMLImageElement>('[data-testid="avatar"]')!;
    expect(img.getAttribute('src')).toBe(BOB_AVATAR);
    expect(img.getAttribute('referrerpolicy')).toBe('no-referrer');
    expect(img.getAttribute('alt')).toBe('');
    expect(img.getAttribute('aria-hidden')).toBe('true');
    expect(fromBob!.querySelector('.sender')!.textContent).toBe('Bob Builder');
    expect(fromMe!.querySelector('[data-testid="avatar"]')).toBeNull();
  });

  it('never loads a non-https avatar, and shows initials when a picture fails to load', async () => {
    const root = await open([
      member(ME, { handle: 'me.test' }),
      member(BOB, { displayName: 'Bob Builder', avatar: BOB_AVATAR }),
      member(CAROL, { handle: 'carol.test', avatar: 'http://tracker.example/carol.png' }),
    ]);
    expect(root.querySelector('img[src^="http:"]')).toBeNull();
    expect(avatarIn(root, `panel-member-${CAROL}`)!.textContent).toBe('C');

    const img = avatarIn(root, `panel-member-${BOB}`)!;
    await act(() => {
      img.dispatchEvent(new Event('error'));
    });
    const fallback = avatarIn(root, `panel-member-${BOB}`)!;
    expect(fallback.tagName).toBe('SPAN');
    expect(fallback.textContent).toBe('BB');
    expect(fallback.getAttribute('aria-label')).toBe('Profile picture of Bob Builder');
  });
});

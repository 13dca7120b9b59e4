import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import { cachedConversationMembers, chatClient, type ChatClient } from '../../src/atproto/chat';
import { chatAgent } from '../../src/atproto/session';
import { chatAsAccount, resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { GROUP_VIEW_FIRST_MEMBERS } from '../net/chat-views';
import { GROUP_MEMBER_LIMIT } from '../net/chat-state';
import { attachNetwork } from '../net/remote';
import { clock } from './device-harness';

// A group conversation's chat.bsky.convo.defs#convoView lists only a few "important members";
// the full list is chat.bsky.convo.getConvoMembers, paged. Through the
// real PDS proxy to the stand-in (which truncates its views as Bluesky documents), the
// extension's member list is everyone, and only people who really left are missing from it.

const net = attachNetwork(viInject('network'));
const START = 50;

let accounts: Account[];
let convoId: string;

const chatAs = (account: Account) => chatAsAccount(net.pdsUrl, account, `${net.chat.did}#bsky_chat`);
/** The extension's chat client for `account` (chatAgent through the PDS proxy). */
async function extensionChat(account: Account, options?: { membersPageSize?: number }): Promise<ChatClient> {
  const agent = await resumeCreationSession(net.pdsUrl, account);
  return chatClient(chatAgent({ chatProxy: `${net.chat.did}#bsky_chat` }, agent), options);
}
const didsOf = (list: readonly Account[]) => list.map((a) => a.did).sort();

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)))));
  }
  return out;
}

beforeAll(async () => {
  // One more than Bluesky's group limit (100 accounts take about 10 s on the local PDS).
  accounts = await inBatches(
    Array.from({ length: GROUP_MEMBER_LIMIT + 1 }, (_, i) => i),
    10,
    (i) => net.createAccount(uniqueName(`cm${i}`)),
  );
  const created = await (await chatAs(accounts[0]!)).chat.bsky.group.createGroup({
    members: accounts.slice(1, START).map((a) => a.did),
    name: 'Fifty',
  });
  convoId = created.data.convo.id;
}, 300_000);

describe(`a ${START}-member bsky group conversation`, () => {
  it('its view lists a few members; members() and cachedConversationMembers list all 50', async () => {
    const viewer = accounts[30]!;
    const { data } = await (await chatAs(viewer)).chat.bsky.convo.getConvo({ convoId });
    // The first few, and the viewer (whom the owner, already among the first, added).
    expect(data.convo.members.map((m) => m.did)).toEqual([...accounts.slice(0, GROUP_VIEW_FIRST_MEMBERS), viewer].map((a) => a.did));
    expect(data.convo.kind).toMatchObject({ $type: 'chat.bsky.convo.defs#groupConvo', memberCount: START });

    const chat = await extensionChat(viewer);
    const members = await chat.members(convoId);
    expect(members.map((m) => m.did).sort()).toEqual(didsOf(accounts.slice(0, START)));
    expect(members.find((m) => m.did === accounts[44]!.did)?.handle).toBe(accounts[44]!.handle);
    // Many pages through the proxy give the same list.
    const paged = await (await extensionChat(viewer, { membersPageSize: 7 })).members(convoId);
    expect(paged.map((m) => m.did)).toEqual(members.map((m) => m.did));

    const cached = cachedConversationMembers(chat, clock);
    expect([...(await cached(convoId))].sort()).toEqual(didsOf(accounts.slice(0, START)));
  });

  it('someone who leaves, and someone the owner removes, are absent; everyone else stays', async () => {
    const leaver = accounts[40]!;
    const removed = accounts[41]!;
    const viewer = accounts[30]!;
    const chat = await extensionChat(viewer, { membersPageSize: 7 });
    const cached = cachedConversationMembers(chat, clock);
    expect((await cached(convoId)).size).toBe(START);

    // A leave between two pages moves no one else out of the next page.
    const viewerChat = await chatAs(viewer);
    const first = await viewerChat.chat.bsky.convo.getConvoMembers({ convoId, limit: 7 });
    await (await chatAs(accounts[3]!)).chat.bsky.convo.leaveConvo({ convoId });
    const second = await viewerChat.chat.bsky.convo.getConvoMembers({ convoId, limit: 7, cursor: first.data.cursor });
    expect(second.data.members.map((m) => m.did)).toEqual(accounts.slice(7, 14).map((a) => a.did));

    await (await chatAs(leaver)).chat.bsky.convo.leaveConvo({ convoId });
    await (await chatAs(accounts[0]!)).chat.bsky.group.removeMembers({ convoId, members: [removed.did] });
    const gone = [accounts[3]!, leaver, removed];
    const staying = accounts.slice(0, START).filter((a) => !gone.includes(a));
    expect((await chat.members(convoId)).map((m) => m.did).sort()).toEqual(didsOf(staying));
    expect([...(await cached(convoId, { fresh: true }))].sort()).toEqual(didsOf(staying));
    // The one who left asks in vain: a refusal (RemoteRefused), not an empty list.
    await expect((await extensionChat(leaver)).members(convoId)).rejects.toMatchObject({ code: 'RemoteRefused' });
  });

  it(`grows to Bluesky's limit (${GROUP_MEMBER_LIMIT}): every member is listed, and one more is refused`, async () => {
    const owner = await chatAs(accounts[0]!);
    const outside = accounts.slice(START, GROUP_MEMBER_LIMIT);
    // The three who left come back too.
    const back = [accounts[3]!, accounts[40]!, accounts[41]!];
    await owner.chat.bsky.group.addMembers({ convoId, members: [...outside, ...back].map((a) => a.did) });
    const everyone = accounts.slice(0, GROUP_MEMBER_LIMIT);
    const { data } = await (await chatAs(accounts[77]!)).chat.bsky.convo.getConvo({ convoId });
    expect(data.convo.members.map((m) => m.did)).toEqual([...accounts.slice(0, GROUP_VIEW_FIRST_MEMBERS), accounts[77]!].map((a) => a.did));
    expect(data.convo.kind).toMatchObject({ memberCount: GROUP_MEMBER_LIMIT, memberLimit: GROUP_MEMBER_LIMIT });
    expect((await (await extensionChat(accounts[77]!)).members(convoId)).map((m) => m.did).sort()).toEqual(didsOf(everyone));
    await expect(owner.chat.bsky.group.addMembers({ convoId, members: [accounts[GROUP_MEMBER_LIMIT]!.did] })).rejects.toMatchObject({
      error: 'MemberLimitReached',
    });
  });
});

describe('a direct conversation', () => {
  it('lists both members, in its view and from members()', async () => {
    const [a, b] = [accounts[1]!, accounts[2]!];
    const { data } = await (await chatAs(a)).chat.bsky.convo.getConvoForMembers({ members: [b.did] });
    expect(data.convo.members.map((m) => m.did).sort()).toEqual(didsOf([a, b]));
    expect((await (await extensionChat(b)).members(data.convo.id)).map((m) => m.did).sort()).toEqual(didsOf([a, b]));
  });
});

describe('a conversation request from a stranger', () => {
  it("adds nobody to read until it is accepted: then the sender is a contact", async () => {
    const [alice, stranger] = await Promise.all([net.createAccount(uniqueName('cmalice')), net.createAccount(uniqueName('cmstranger'))]);
    const theirs = await chatAs(stranger);
    const { data } = await theirs.chat.bsky.convo.getConvoForMembers({ members: [alice.did] });
    await theirs.chat.bsky.convo.sendMessage({ convoId: data.convo.id, message: { text: 'hi, read my repo' } });

    const chat = await extensionChat(alice);
    expect(await chat.contacts(100)).not.toContain(stranger.did);
    await (await chatAs(alice)).chat.bsky.convo.acceptConvo({ convoId: data.convo.id });
    expect(await chat.contacts(100)).toContain(stranger.did);
  });
});

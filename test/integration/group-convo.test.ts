import { beforeAll, describe, expect, inject as viInject, it } from 'vitest';
import { toHex } from '../../src/bytes';
import { cachedConversationMembers, chatClient } from '../../src/atproto/chat';
import { chatAgent } from '../../src/atproto/session';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { DEFAULT_DELIVERY_POLICY } from '../../src/engine/delivery-deps';
import type { GroupRecord } from '../../src/engine/delivery-state';
import { DEFAULT_POOL_POLICY } from '../../src/engine/key-package-pool';
import { newTid } from '../../src/engine/tid';
import { decodeGroupState, epochAuthenticator, members } from '../../src/mls';
import { didOfIdentity } from '../../src/protocol/device-uri';
import { chatAsAccount, resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { GROUP_VIEW_FIRST_MEMBERS } from '../net/chat-views';
import { attachNetwork } from '../net/remote';
import { clock, deliveryEngineFor, startDevice, type TestDevice } from './device-harness';
import { expectUnreadableAfter } from './unreadable';

// Bluesky group conversations: a 50-member chat.bsky group whose membership changes
// (the owner removes people, someone leaves, people are added). The chat stand-in, reached
// through the real PDS proxy, is each device's only source of who is in the conversation; the
// MLS group follows it, and every removed member fails to decrypt every event sent after. As on
// Bluesky, the conversation's view lists only a few of its members (test/net/chat-views.ts):
// the devices read everyone from chat.bsky.convo.getConvoMembers, so nobody else is removed.

const net = attachNetwork(viInject('network'));
const START = 50;
const REMOVED = 4;
const ADDED = 4;

interface Member {
  account: Account;
  device: TestDevice;
  engine: DeliveryEngine;
}

let everyone: Member[];
let convoId: string;
let groupId: string;

const owner = () => everyone[0]!;
const chatAs = (account: Account) => chatAsAccount(net.pdsUrl, account, `${net.chat.did}#bsky_chat`);

async function member(account: Account, index: number): Promise<Member> {
  const agent = await resumeCreationSession(net.pdsUrl, account);
  // A small pool: 55 devices publish theirs before the test starts.
  const device = await startDevice(`g${index}`, agent, account.did, net.plcUrl, { ...DEFAULT_POOL_POLICY, oneTime: 2 });
  // As the extension asks: through the PDS proxy, cached for a few minutes (test clock).
  const members = cachedConversationMembers(chatClient(chatAgent({ chatProxy: `${net.chat.did}#bsky_chat` }, agent)), clock);
  const dids = async (id: string, options?: { fresh?: boolean }) => [...(await members(id, options))];
  const { engine } = await deliveryEngineFor(device, `group-convo-${index}-${newTid()}`, {}, {
    conversationDids: dids,
  });
  return { account, device, engine };
}

async function inBatches<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)))));
  }
  return out;
}

/** Publishes and reads until nothing moves any more (bounded). */
async function settle(peers: readonly Member[], contacts: string[] = []): Promise<void> {
  for (let round = 0; round < 8; round++) {
    let moved = 0;
    for (const p of peers) moved += (await p.engine.flush()).published.length;
    const reports = await inBatches(peers, 10, (p) => p.engine.poll(contacts));
    for (const report of reports) moved += report.outcomes.filter((o) => o.kind !== 'own' && o.kind !== 'unrecognised').length;
    if (moved === 0) return;
  }
  throw new Error('did not settle in 8 rounds');
}

const groupOf = async (p: Member): Promise<GroupRecord | undefined> =>
  (await p.engine.groups()).find((g) => g.groupId === groupId);
const authenticatorOf = async (p: Member) => {
  const g = await groupOf(p);
  return g ? toHex(epochAuthenticator(decodeGroupState(p.device.mls, g.state))) : undefined;
};

beforeAll(async () => {
  const accounts = await inBatches(
    Array.from({ length: START + ADDED }, (_, i) => i),
    10,
    (i) => net.createAccount(uniqueName(`gc${i}`)),
  );
  everyone = await inBatches(accounts, 10, (account, i) => member(account, i));
  const convo = await (await chatAs(owner().account)).chat.bsky.group.createGroup({
    members: everyone.slice(1, START).map((m) => m.account.did),
    name: 'Fifty',
  });
  convoId = convo.data.convo.id;
}, 600_000);

describe(`a ${START}-member bsky group conversation`, () => {
  it('every member joins one MLS group for it', async () => {
    const start = everyone.slice(0, START);
    // What a member's view of the conversation names: the first few and the viewer.
    const view = await (await chatAs(everyone[30]!.account)).chat.bsky.convo.getConvo({ convoId });
    expect(view.data.convo.members).toHaveLength(GROUP_VIEW_FIRST_MEMBERS + 1);
    groupId = (await owner().engine.createGroup(start.map((m) => m.account.did), convoId)).groupId;
    await settle(start, [owner().account.did]);
    const expected = await authenticatorOf(owner());
    for (const m of start) expect(await authenticatorOf(m)).toBe(expected);
    const state = decodeGroupState(owner().device.mls, (await groupOf(owner()))!.state);
    expect(members(state)).toHaveLength(START);
  }, 600_000);

  it('follows removals, a leave and additions; removed members decrypt nothing sent after', async () => {
    const ownerChat = await chatAs(owner().account);
    const removed = everyone.slice(START - REMOVED - 1, START - 1);
    const leaver = everyone[START - 1]!;
    const added = everyone.slice(START);
    await ownerChat.chat.bsky.group.removeMembers({ convoId, members: removed.map((m) => m.account.did) });
    await (await chatAs(leaver.account)).chat.bsky.convo.leaveConvo({ convoId });
    await ownerChat.chat.bsky.group.addMembers({ convoId, members: added.map((m) => m.account.did) });

    const gone = [...removed, leaver];
    const staying = everyone.filter((m) => !gone.includes(m));
    const stayingOld = everyone.slice(0, START).filter((m) => !gone.includes(m));
    // Every current member reviews; whoever's turn it is commits (§6.9). A second pass after the
    // epoch is final picks up whatever a lost race left undone.
    clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + 1);
    for (let pass = 0; pass < 3; pass++) {
      await inBatches(stayingOld, 10, (m) => m.engine.maintain());
      await settle([...staying, ...gone], staying.map((m) => m.account.did));
      clock.advance(DEFAULT_DELIVERY_POLICY.finalityMs + DEFAULT_DELIVERY_POLICY.staggerSlotMs + 1);
      const dids = new Set(
        members(decodeGroupState(owner().device.mls, (await groupOf(owner()))!.state)).map((m) => didOfIdentity(m.identity)),
      );
      if (staying.every((m) => dids.has(m.account.did)) && gone.every((m) => !dids.has(m.account.did))) break;
    }

    const expected = await authenticatorOf(owner());
    for (const m of staying) expect(await authenticatorOf(m)).toBe(expected);
    for (const m of gone) expect((await groupOf(m))?.active).toBe(false);
    // Exactly the people who stay, though each one's view of the conversation names a few.
    const inGroup = members(decodeGroupState(owner().device.mls, (await groupOf(owner()))!.state)).map((m) => didOfIdentity(m.identity));
    expect(inGroup.sort()).toEqual(staying.map((m) => m.account.did).sort());

    // Messages from an old member and a new one reach everyone who stays, and no one who left.
    // (Events before this point include the removal commit itself, which the removed could read.)
    const afterRemoval = newTid();
    const senders = [everyone[1]!, added[0]!];
    for (const [i, sender] of senders.entries()) {
      await sender.engine.sendToConversation(convoId, `after the changes ${i}`);
    }
    await settle([...staying, ...gone], staying.map((m) => m.account.did));
    for (const m of staying) {
      const texts = (await m.engine.conversationMessages(convoId)).map((x) => x.text);
      expect(texts).toEqual(expect.arrayContaining(['after the changes 0', 'after the changes 1']));
    }
    let tried = 0;
    for (const m of gone) {
      const texts = (await m.engine.messages(groupId)).map((x) => x.text);
      expect(texts.filter((t) => t.startsWith('after the changes'))).toEqual([]);
      const authors = staying.map((a) => a.account.did);
      tried += (await expectUnreadableAfter(m.device.publicRepos, (await groupOf(m))!, authors, afterRemoval)).attempts;
    }
    // The two messages (and the commits after the removal) were each tried by every removed member.
    expect(tried).toBeGreaterThanOrEqual(gone.length * 2);
  }, 900_000);
});

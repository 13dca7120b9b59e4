import { describe, expect, it } from 'vitest';
import type { AccountService, ActiveAccount } from '../../../src/background/account';
import { createHandlers } from '../../../src/background/handlers';
import type { ContactSafety, SafetyState } from '../../../src/engine/contact-safety';
import { AtmError } from '../../../src/errors';

// The background's handlers for safety numbers over a stand-in account: what convo.view adds to
// each member, and which pages are told to re-read after a verification changes.
const ME = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const CAROL = 'did:plc:cccccccccccccccccccccccc';
const DAVE = 'did:plc:dddddddddddddddddddddddd';

function setup(states: Record<string, SafetyState | 'offline'>) {
  const asked: string[] = [];
  const safety: ContactSafety = {
    async state(did) {
      asked.push(did);
      const s = states[did];
      if (s === 'offline' || s === undefined) throw new AtmError('Network', 'offline');
      return { did, state: s };
    },
    safetyNumber: async () => {
      throw new Error('not used');
    },
    verify: async (did) => ({ did, state: 'verified', verifiedAt: 7 }),
    unverify: async (did) => ({ did, state: 'unverified' }),
    repoChanged: async () => {},
  };
  const account = {
    session: { did: ME },
    contacts: new Set<string>(),
    chat: { members: async () => [ME, BOB, CAROL, DAVE].map((did) => ({ did, handle: `${did.slice(8, 11)}.test` })) },
    engine: {
      conversationGroup: async () => undefined,
      conversationMessages: async () => [],
      groups: async () => [
        { groupId: 'g1', convoId: 'c1', memberDids: [ME, BOB] },
        { groupId: 'g2', convoId: 'c2', memberDids: [ME, BOB, CAROL] },
        { groupId: 'g3', convoId: 'c3', memberDids: [ME, CAROL] },
        { groupId: 'g4', memberDids: [ME, BOB] },
      ],
    },
    publicRepos: { listRecords: async () => [{ uri: 'x', cid: 'y', rkey: 'z', value: {} }] },
    safety,
  } as unknown as ActiveAccount;
  const changed: string[] = [];
  const accountService = { require: async () => account, current: async () => account } as unknown as AccountService;
  const handlers = createHandlers({
    version: '0',
    startedAt: 0,
    clock: { now: () => 0 },
    convoSettings: async () => ({ get: async () => undefined, put: async () => {} }),
    account: accountService,
    panelTickets: { issue: async () => 'not used' },
    notifyConvoStatus: () => {},
    notifyConvoChanged: (convoId) => changed.push(convoId),
  });
  return { handlers, asked, changed };
}

const ctx = { caller: 'extension-page' as const };

describe('safety numbers in the background handlers', () => {
  it("give every member but you a safety state, and none when it can't be checked now", async () => {
    const { handlers, asked } = setup({ [BOB]: 'verified', [CAROL]: 'changed', [DAVE]: 'offline' });
    const view = await handlers['convo.view']({ convoId: 'c1' }, ctx);
    expect(Object.fromEntries(view.members.map((m) => [m.did, m.safety ?? 'absent']))).toEqual({
      [ME]: 'absent',
      [BOB]: 'verified',
      [CAROL]: 'changed',
      [DAVE]: 'absent',
    });
    expect(asked.sort()).toEqual([BOB, CAROL, DAVE].sort());
  });

  it("tell every page with a conversation of the contact's group to re-read after verify and unverify", async () => {
    const { handlers, changed } = setup({});
    await expect(handlers['contact.verify']({ did: BOB, fingerprint: 'ab'.repeat(32) }, ctx)).resolves.toEqual({
      did: BOB,
      state: 'verified',
      verifiedAt: 7,
    });
    expect(changed.sort()).toEqual(['c1', 'c2']);
    changed.length = 0;
    await handlers['contact.unverify']({ did: CAROL }, ctx);
    expect(changed.sort()).toEqual(['c2', 'c3']);
  });
});

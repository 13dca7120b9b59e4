import { resumeCreationSession, type Account } from './accounts';
import { CHAT_SERVICE_ID } from './chat-constants';
import type { NetworkInfo } from './network';

export interface DemoSeed {
  alice: Account;
  bob: Account;
  carol: Account;
  /** Direct convo alice + bob (chat.bsky.convo.getConvoForMembers). */
  directConvoId: string;
  /** Group convo alice + bob + carol (chat.bsky.group.createGroup), owned by alice. */
  groupConvoId: string;
}

export interface SeedDemoOptions {
  /** Appended to each name (alice<suffix>.test ...) so a shared network can be seeded twice. */
  suffix?: string;
}

/** Works on a LocalNetwork (npm start) and a RemoteNetwork (a test worker) alike. */
type Seedable = Pick<NetworkInfo, 'pdsUrl' | 'chat'> & { createAccount(name: string): Promise<Account> };

/**
 * The demo world for `npm start` and end-to-end tests: three accounts with display names, a
 * direct conversation alice+bob and a group alice+bob+carol in the chat stand-in. Everything
 * goes through public APIs: accounts and profiles via the PDS, conversations via the PDS proxy.
 * It reuses the sessions the accounts were created with, because a PDS login costs 350 ms. No
 * messages are sent, so the chat service starts out holding no text at all.
 */
export async function seedDemo(net: Seedable, opts: SeedDemoOptions = {}): Promise<DemoSeed> {
  const suffix = opts.suffix ?? '';
  const [alice, bob, carol] = await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => net.createAccount(`${name}${suffix}`)),
  ) as [Account, Account, Account];
  const [aliceAgent] = await Promise.all([
    setDisplayName(net.pdsUrl, alice, 'Alice'),
    setDisplayName(net.pdsUrl, bob, 'Bob'),
    setDisplayName(net.pdsUrl, carol, 'Carol'),
  ]);

  const chat = aliceAgent.withProxy(CHAT_SERVICE_ID, net.chat.did);
  const direct = await chat.chat.bsky.convo.getConvoForMembers({ members: [alice.did, bob.did] });
  const group = await chat.chat.bsky.group.createGroup({ members: [bob.did, carol.did], name: 'Demo group' });
  return { alice, bob, carol, directConvoId: direct.data.convo.id, groupConvoId: group.data.convo.id };
}

async function setDisplayName(pdsUrl: string, account: Account, displayName: string) {
  const agent = await resumeCreationSession(pdsUrl, account);
  await agent.com.atproto.repo.putRecord({
    repo: account.did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName },
  });
  return agent;
}

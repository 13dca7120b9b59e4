import { AtmError } from '../errors';
import { chatAgent, resumeSession, signIn as sessionSignIn, signOut as sessionSignOut, type Session } from '../atproto/session';
import { createIdentityResolver } from '../atproto/identity';
import { createRecordProver } from '../atproto/record-proof';
import { agentOwnRepo, publicRepos } from '../atproto/repos';
import { cachedConversationMembers, chatClient, type ChatClient } from '../atproto/chat';
import { watchRepos, type WebSocketConstructor } from '../atproto/firehose';
import { createAuthenticationService, type AuthenticationService } from '../engine/authentication-service';
import { createContactSafety, type ContactSafety } from '../engine/contact-safety';
import { chooseContacts } from '../engine/contacts';
import { ensureDevice } from '../engine/device-registration';
import { mlsAuthService } from '../engine/mls-auth';
import { DEFAULT_DELIVERY_POLICY, type DeliveryDeps } from '../engine/delivery-deps';
import { createDeliveryEngine, type DeliveryEngine } from '../engine/delivery-engine';
import type { PollReport } from '../engine/inbox';
import type { Clock, LocalDevice, OwnRepo, PublicRepos } from '../engine/ports';
import { newTid } from '../engine/tid';
import { createSuite } from '../mls';
import { DEVICE_COLLECTION_NSID, KEY_PACKAGE_COLLECTION_NSID } from '../protocol/records';
import type { AuthStatus, NetworkSettings } from '../rpc/methods';
import type { AtmDb } from '../store/db';
import { idbDeliveryStore, wipeDeviceState } from '../store/delivery-store';
import { idbDeviceStore, idbKeyPackageStore } from '../store/device-store';
import { idbContactVerifications } from '../store/contact-store';
import { idbChatMembers } from '../store/chat-members';
import { startDeliveryRunner, type DeliveryRunner } from './delivery-runner';

/** Bluesky's production services; the options page can point elsewhere (self-hosting, tests). */
export const DEFAULT_NETWORK: NetworkSettings = {
  plcUrl: 'https://plc.directory',
  handleResolver: 'https://public.api.bsky.app',
  chatProxy: 'did:web:api.bsky.chat#bsky_chat',
};

/** Everything the signed-in device runs with. Built once per worker life, on first use. */
export interface ActiveAccount {
  session: Session;
  device: LocalDevice;
  engine: DeliveryEngine;
  runner: DeliveryRunner;
  chat: ChatClient;
  /** The account's own repo, written with the session (device revocation). */
  repo: OwnRepo;
  publicRepos: PublicRepos;
  as: AuthenticationService;
  /** DIDs whose repos may hold invites for us: members of our bsky conversations. */
  contacts: Set<string>;
  /** Safety numbers and their verification (docs/protocol.md §9). */
  safety: ContactSafety;
}

export interface AccountDeps {
  db: AtmDb;
  clock: Clock;
  WebSocketImpl?: WebSocketConstructor;
  /** A delivery round read something (new messages, joins): tell the pages. */
  onPolled(account: ActiveAccount, report: PollReport): void;
  /** A verified contact's devices were seen to change (or change back): pages re-read. */
  onContactSafetyChanged?(account: ActiveAccount, did: string): void;
  /** How far turning encryption on for a conversation got: its open panel shows a progress bar. */
  onGroupProgress?: DeliveryDeps['onGroupProgress'];
  onError(error: unknown): void;
}

export interface AccountService {
  status(): Promise<AuthStatus>;
  signIn(identifier: string, appPassword: string): Promise<AuthStatus>;
  signOut(): Promise<AuthStatus>;
  network(): Promise<NetworkSettings>;
  setNetwork(settings: NetworkSettings): Promise<NetworkSettings>;
  /** The running account; NotSignedIn when there is none. */
  require(): Promise<ActiveAccount>;
  /** The running account if signed in (resumed from storage after a worker restart). */
  current(): Promise<ActiveAccount | undefined>;
}

const MAX_CONTACT_CONVOS = 100;
/** How often the contacts are chosen again (conversations accepted or left meanwhile). */
const CONTACTS_REFRESH_MS = 30 * 60_000;
const FIRST_ROUND_DELAY_MS = 1000;

export function createAccountService(deps: AccountDeps): AccountService {
  let active: Promise<ActiveAccount | undefined> | undefined;
  /** The next choice of contacts; cleared on sign-out. */
  let contactsTimer: ReturnType<typeof setTimeout> | undefined;

  const network = async () => ((await deps.db.get('account', 'network')) as NetworkSettings | undefined) ?? DEFAULT_NETWORK;
  const storedSession = async () => (await deps.db.get('account', 'session')) as Session | undefined;

  async function activate(stored: Session): Promise<ActiveAccount> {
    const config = await network();
    const resumed = await resumeSession(config, stored, {
      onSessionChange: (session) => {
        // Refreshed tokens are kept; a refused refresh signs this device out of the PDS only.
        if (session) void deps.db.put('account', session, 'session');
      },
    });
    if (resumed.session !== stored) await deps.db.put('account', resumed.session, 'session');
    const session = resumed.session;
    const identity = createIdentityResolver({ plcUrl: config.plcUrl });
    const as = createAuthenticationService({ prover: createRecordProver({ identity }), clock: deps.clock });
    const mls = { suite: await createSuite(), auth: mlsAuthService(as), clock: deps.clock };
    const repo = agentOwnRepo(resumed.agent, session.did);
    const reader = publicRepos({ identity });
    const keyPackages = idbKeyPackageStore(deps.db);
    const device = await ensureDevice({ repo, devices: idbDeviceStore(deps.db), suite: mls.suite, clock: deps.clock, newTid });
    const chat = chatClient(chatAgent(config, resumed.agent));
    // Kept in IndexedDB too: a page waking the worker asks for a conversation's status, whose
    // unread count needs its members (§6.8), and they were usually asked for a minute ago.
    const members = cachedConversationMembers(chat, deps.clock, undefined, idbChatMembers(deps.db));
    const engine = createDeliveryEngine({
      device,
      mls,
      store: idbDeliveryStore(deps.db),
      repo,
      publicRepos: reader,
      keyPackages,
      clock: deps.clock,
      newTid,
      policy: DEFAULT_DELIVERY_POLICY,
      as,
      // Who is in a conversation (§6.8, §6.9); a group stands for it only if they all are.
      conversationDids: async (convoId, options) => [...(await members(convoId, options))],
      onMaintenanceError: deps.onError,
      ...(deps.onGroupProgress ? { onGroupProgress: deps.onGroupProgress } : {}),
    });
    const contacts = new Set<string>([session.did]);
    const account = {} as ActiveAccount;
    const safety = createContactSafety({
      myDid: session.did,
      publicRepos: reader,
      as,
      store: idbContactVerifications(deps.db),
      clock: deps.clock,
      onStateChanged: (did) => deps.onContactSafetyChanged?.(account, did),
    });
    const runner = startDeliveryRunner({
      engine,
      contacts: () => [...contacts],
      pdsOf: async (did) => (await identity.resolveDid(did)).pds,
      watch: (pdsUrl, dids, onChange, onClosed) =>
        watchRepos({
          serviceUrl: pdsUrl,
          dids,
          collection: 'org.atmessaging.event',
          // A new device or key package of someone we share a group with: add it (maintenance).
          alsoCollections: [DEVICE_COLLECTION_NSID, KEY_PACKAGE_COLLECTION_NSID],
          onChange: (did, collections, rkeys) => {
            // A verified contact's device set may have changed: the warning should not wait.
            if (!collections || collections.includes(DEVICE_COLLECTION_NSID)) {
              void safety.repoChanged(did).catch(deps.onError);
            }
            onChange(did, collections, rkeys);
          },
          onError: onClosed,
          ...(deps.WebSocketImpl ? { WebSocketImpl: deps.WebSocketImpl } : {}),
        }),
      pollIntervalMs: 60_000,
      // A page woke us (a lock toggle asking a status): answer it before the first round's
      // reads and membership reviews compete with it. An alarm's wake-up kicks at once.
      firstRoundDelayMs: FIRST_ROUND_DELAY_MS,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      now: () => deps.clock.now(),
      clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      onPolled: (report) => deps.onPolled(account, report),
      onError: deps.onError,
    });
    Object.assign(account, { session, device, engine, runner, chat, repo, publicRepos: reader, as, contacts, safety });
    // Not at once: like the first round, it would compete with the request that woke us.
    refreshContactsEvery(account, FIRST_ROUND_DELAY_MS);
    return account;
  }

  /**
   * Members of our accepted bsky conversations who publish a device: their repos are where
   * invites to us appear (a conversation request adds nobody until it is accepted on bsky.app).
   * Chosen again every CONTACTS_REFRESH_MS while the worker lives; a conversation opened in a
   * panel adds its members meanwhile.
   */
  async function refreshContacts(account: ActiveAccount): Promise<void> {
    const candidates = await account.chat.contacts(MAX_CONTACT_CONVOS);
    const chosen = await chooseContacts(account, candidates, account.contacts);
    chosen.add(account.session.did);
    const added = [...chosen].some((did) => !account.contacts.has(did));
    for (const did of account.contacts) if (!chosen.has(did)) account.contacts.delete(did);
    for (const did of chosen) account.contacts.add(did);
    if (added) void account.runner.kick();
  }

  function refreshContactsEvery(account: ActiveAccount, delayMs: number): void {
    contactsTimer = setTimeout(() => {
      void refreshContacts(account)
        .catch(deps.onError)
        .finally(() => {
          if (contactsTimer !== undefined) refreshContactsEvery(account, CONTACTS_REFRESH_MS);
        });
    }, delayMs);
  }

  async function current(): Promise<ActiveAccount | undefined> {
    active ??= storedSession().then((s) => (s ? activate(s) : undefined));
    try {
      return await active;
    } catch (error) {
      active = undefined; // try again on the next request
      throw error;
    }
  }

  async function status(): Promise<AuthStatus> {
    const session = await storedSession();
    if (!session) return { signedIn: false };
    const device = await idbDeviceStore(deps.db).load();
    return {
      signedIn: true,
      did: session.did,
      handle: session.handle,
      pds: session.pds,
      deviceUri: device?.uri ?? '',
    };
  }

  return {
    status,
    network,
    async setNetwork(settings) {
      await deps.db.put('account', settings, 'network');
      return settings;
    },
    async signIn(identifier, appPassword) {
      if (await storedSession()) throw new AtmError('BadRequest', 'already signed in; sign out first');
      const session = await sessionSignIn(await network(), identifier, appPassword);
      const device = await idbDeviceStore(deps.db).load();
      if (device && device.did !== session.did) {
        await sessionSignOut(session);
        throw new AtmError('BadRequest', 'this browser profile holds another account; sign out first');
      }
      await deps.db.put('account', session, 'session');
      active = activate(session);
      await active;
      return status();
    },
    async signOut() {
      const account = await current().catch(() => undefined);
      const session = await storedSession();
      if (account) {
        account.runner.stop();
        clearTimeout(contactsTimer);
        contactsTimer = undefined;
        // Revoke this device in the repo (best effort): others stop adding it to groups.
        const repo = agentOwnRepo((await resumeSession(await network(), account.session)).agent, account.session.did);
        await repo.deleteRecord(DEVICE_COLLECTION_NSID, account.device.rkey).catch(deps.onError);
        for (const secret of await idbKeyPackageStore(deps.db).list()) {
          await repo.deleteRecord(KEY_PACKAGE_COLLECTION_NSID, secret.rkey).catch(deps.onError);
        }
      }
      if (session) await sessionSignOut(session).catch(deps.onError);
      active = undefined;
      // Sign-out deletes every key and all state of this device, in one transaction.
      await wipeDeviceState(deps.db);
      return { signedIn: false };
    },
    async require() {
      const account = await current();
      if (!account) throw new AtmError('NotSignedIn', 'sign in from the atmessaging toolbar button');
      return account;
    },
    current,
  };
}

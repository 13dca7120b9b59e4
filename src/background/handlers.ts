import { AtmError } from '../errors';
import { convoStatus, markConvoRead, setConvoEncrypted } from '../engine/conversations';
import { messageKey, type MessageRecord } from '../engine/delivery-state';
import { listOwnDevices, revokeOwnDevice } from '../engine/own-devices';
import type { Clock, ConvoSettingsStore } from '../engine/ports';
import { decodeGroupState, members as groupMembers } from '../mls';
import { DEVICE_COLLECTION_NSID } from '../protocol/records';
import { didOfIdentity } from '../protocol/device-uri';
import type { ConvoStatus, ConvoView, MemberView, MessageView, SafetyState } from '../rpc/methods';
import type { PanelTickets } from '../rpc/panel-tickets';
import type { RpcHandlers } from '../rpc/server';
import type { AccountService, ActiveAccount } from './account';

export interface BackgroundDeps {
  version: string;
  startedAt: number;
  clock: Clock;
  convoSettings: () => Promise<ConvoSettingsStore>;
  account: AccountService;
  /** Issues the tickets that admit the content script's panel frames (src/rpc/panel-tickets.ts). */
  panelTickets: Pick<PanelTickets, 'issue'>;
  /** Tells every open page and content script that a conversation's status changed. */
  notifyConvoStatus(status: ConvoStatus): void;
  notifyConvoChanged(convoId: string): void;
}

/** The plain DM a member without the extension gets: no secret, just how to join. */
export const INVITE_TEXT =
  'I turned on end-to-end encryption for this conversation with atmessaging. ' +
  'To read and write here, install the atmessaging extension for Chrome or Firefox, sign in with ' +
  'an app password that allows direct messages, and open this conversation on bsky.app.';

function messageView(m: MessageRecord): MessageView {
  return {
    id: m.contentId,
    text: m.text,
    sentAt: m.sentAt,
    senderDid: didOfIdentity(m.senderUri),
    senderDevice: m.senderUri,
    own: m.own,
    status: m.status,
  };
}

function ownDevicesDeps(account: ActiveAccount) {
  return { publicRepos: account.publicRepos, did: account.session.did, thisDevice: account.device.rkey };
}

/** The conversations whose encrypted group has `did` as a member: their pages show its safety state. */
export async function conversationsWith(account: ActiveAccount, did: string): Promise<string[]> {
  const groups = await account.engine.groups();
  return [...new Set(groups.filter((g) => g.convoId && g.memberDids.includes(did)).map((g) => g.convoId!))];
}

/** Maps each RPC method to its use case; the access checks already ran in `dispatch`. */
export function createHandlers(deps: BackgroundDeps): RpcHandlers {
  // Whether a member publishes any device, cached briefly: the members list is re-read often.
  const hasDevices = new Map<string, { value: boolean; at: number }>();

  async function publishesDevices(account: ActiveAccount, did: string): Promise<boolean> {
    const hit = hasDevices.get(did);
    if (hit && deps.clock.now() - hit.at < 5 * 60_000) return hit.value;
    const value = (await account.publicRepos.listRecords(did, DEVICE_COLLECTION_NSID, { max: 1 })).length > 0;
    hasDevices.set(did, { value, at: deps.clock.now() });
    return value;
  }

  /**
   * Encrypted when the user turned it on here, or, without a choice of theirs on this device,
   * when this device is in the conversation's group (it joined from an invite).
   */
  async function isEncrypted(convoId: string, account?: ActiveAccount): Promise<boolean> {
    const setting = await (await deps.convoSettings()).get(convoId);
    if (setting?.encrypted !== undefined) return setting.encrypted;
    return account ? (await account.engine.conversationGroup(convoId)) !== undefined : false;
  }

  async function status(convoId: string, account?: ActiveAccount): Promise<ConvoStatus> {
    const settings = await deps.convoSettings();
    const base = { ...(await convoStatus(settings, convoId)), encrypted: await isEncrypted(convoId, account) };
    if (!account) return base;
    const readAt = (await settings.get(convoId))?.readAt ?? 0;
    const unread = (await account.engine.conversationMessages(convoId)).filter((m) => !m.own && m.receivedAt > readAt).length;
    return { ...base, unread };
  }

  async function view(convoId: string): Promise<ConvoView> {
    const account = await deps.account.require();
    const chatMembers = await account.chat.members(convoId);
    for (const m of chatMembers) account.contacts.add(m.did);
    const group = await account.engine.conversationGroup(convoId);
    const devices = new Map<string, string[]>();
    if (group) {
      for (const m of groupMembers(decodeGroupState(account.engine.mlsContext(), group.state))) {
        const did = didOfIdentity(m.identity);
        devices.set(did, [...(devices.get(did) ?? []), m.identity]);
      }
    }
    // Safety states in parallel: only verified contacts cost a (cached) read of their repo. One
    // that cannot be checked now shows no state rather than a wrong one.
    const safety = new Map<string, SafetyState>();
    await Promise.all(
      chatMembers
        .filter((m) => m.did !== account.session.did)
        .map((m) =>
          account.safety.state(m.did).then(
            (s) => void safety.set(m.did, s.state),
            () => {},
          ),
        ),
    );
    // Members with no device in the group: whether they publish one at all (in parallel, as the
    // safety states: a 50-member conversation without a group would otherwise wait 50 reads).
    const publishes = new Map<string, boolean>();
    await Promise.all(
      chatMembers
        .filter((m) => !devices.has(m.did))
        .map(async (m) => void publishes.set(m.did, await publishesDevices(account, m.did))),
    );
    const members: MemberView[] = [];
    for (const m of chatMembers) {
      const inGroup = devices.get(m.did) ?? [];
      members.push({
        did: m.did,
        handle: m.handle,
        ...(m.displayName ? { displayName: m.displayName } : {}),
        ...(m.avatar ? { avatar: m.avatar } : {}),
        // In the group means the Authentication Service accepted them (CAR-verified).
        devices: inGroup.map((uri) => ({ uri, verified: true })),
        withoutExtension: inGroup.length === 0 && !publishes.get(m.did),
        ...(safety.has(m.did) ? { safety: safety.get(m.did) } : {}),
      });
    }
    return {
      status: await status(convoId, account),
      messages: (await account.engine.conversationMessages(convoId)).map(messageView),
      members,
      // MLS gives a member that joins no keys for earlier epochs: say so rather than look empty.
      ...(group?.origin === 'joined' ? { joinedAt: group.createdAt } : {}),
    };
  }

  /** A verification changed: every page showing a conversation with this contact re-reads it. */
  async function safetyChanged(account: ActiveAccount, did: string): Promise<void> {
    for (const convoId of await conversationsWith(account, did)) deps.notifyConvoChanged(convoId);
  }

  return {
    'contact.safetyNumber': async ({ did }) => (await deps.account.require()).safety.safetyNumber(did),
    'contact.verify': async ({ did, fingerprint }) => {
      const account = await deps.account.require();
      const result = await account.safety.verify(did, fingerprint);
      await safetyChanged(account, did);
      return result;
    },
    'contact.unverify': async ({ did }) => {
      const account = await deps.account.require();
      const result = await account.safety.unverify(did);
      await safetyChanged(account, did);
      return result;
    },
    'background.info': () => ({ version: deps.version, startedAt: deps.startedAt }),
    'convo.status': async ({ convoId }) => status(convoId, await deps.account.current().catch(() => undefined)),
    'convo.setEncrypted': async ({ convoId, encrypted }) => {
      if (encrypted) {
        const account = await deps.account.require();
        if (!(await account.engine.conversationGroup(convoId))) {
          const memberDids = (await account.chat.members(convoId)).map((m) => m.did);
          for (const did of memberDids) account.contacts.add(did);
          await account.engine.createGroup(
            memberDids.filter((did) => did !== account.session.did),
            convoId,
          );
          void account.runner.kick();
        }
      }
      const result = await setConvoEncrypted(await deps.convoSettings(), deps.clock, convoId, encrypted);
      deps.notifyConvoStatus(result);
      deps.notifyConvoChanged(convoId);
      return result;
    },
    'auth.status': () => deps.account.status(),
    'auth.signIn': ({ identifier, appPassword }) => deps.account.signIn(identifier, appPassword),
    'auth.signOut': () => deps.account.signOut(),
    'settings.network': () => deps.account.network(),
    'settings.setNetwork': (settings) => deps.account.setNetwork(settings),
    'convo.view': ({ convoId }) => view(convoId),
    'convo.send': async ({ convoId, text }) => {
      const account = await deps.account.require();
      if (!(await isEncrypted(convoId, account))) {
        throw new AtmError('BadRequest', 'encryption is off for this conversation');
      }
      const message = await account.engine.sendToConversation(convoId, text);
      void account.runner.kick();
      deps.notifyConvoChanged(convoId);
      return messageView(message);
    },
    'convo.retry': async ({ convoId, messageId }) => {
      const account = await deps.account.require();
      const group = await account.engine.conversationGroup(convoId);
      if (group) await account.engine.retryMessage(group.groupId, messageKey(messageId, account.device.uri));
      void account.runner.kick();
      return view(convoId);
    },
    'convo.invite': async ({ convoId, did }) => {
      const account = await deps.account.require();
      const members = await account.chat.members(convoId);
      if (!members.some((m) => m.did === did)) throw new AtmError('BadRequest', 'not a member of this conversation');
      await account.chat.sendPlain(convoId, INVITE_TEXT);
      return { sent: true };
    },
    'convo.markRead': async ({ convoId }) => {
      await markConvoRead(await deps.convoSettings(), deps.clock, convoId);
      const result = await status(convoId, await deps.account.current().catch(() => undefined));
      deps.notifyConvoStatus(result);
      return result;
    },

    // This account's devices (options page).
    'devices.list': async () => {
      const account = await deps.account.require();
      return { devices: await listOwnDevices(ownDevicesDeps(account)) };
    },
    'devices.revoke': async ({ rkey }) => {
      const account = await deps.account.require();
      return revokeOwnDevice({ ...ownDevicesDeps(account), repo: account.repo }, rkey);
    },

    // The content script's tab, as the browser reported it for the port (never a param).
    'panel.ticket': async (_params, { tabId }) => {
      if (tabId === undefined) throw new AtmError('Forbidden', 'a panel ticket is for a tab');
      return { ticket: await deps.panelTickets.issue(tabId) };
    },
  };
}

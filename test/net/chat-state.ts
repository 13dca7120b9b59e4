import { TID } from '@atproto/common-web';

// The chat stand-in's memory: conversations, messages and per-viewer logs. Pure bookkeeping, no
// I/O and no lexicon shapes (chat-views.ts renders those), so the rules are easy to read here.

export type ConvoKind = 'direct' | 'group';
export type ConvoStatus = 'request' | 'accepted';
export type MemberRole = 'owner' | 'standard';

export interface StoredMessage {
  id: string;
  rev: string;
  convoId: string;
  sender: string;
  text: string;
  /** Passed through as received; the lexicon validated them on the way in. */
  facets?: unknown[];
  sentAt: string;
}

export interface MemberState {
  role: MemberRole;
  /** When they joined, from one counter per service: getConvoMembers pages by it. */
  joinSeq: number;
  /** Who added them (a group's owner); absent for the creator. */
  addedBy?: string;
  /** Bluesky puts a new convo in the recipients' request inbox until they accept or reply. */
  status: ConvoStatus;
  /** For a direct convo leaving only hides it from the leaver's listings (the lexicon says so). */
  left: boolean;
  muted: boolean;
  lastReadRev?: string;
}

export interface Convo {
  id: string;
  kind: ConvoKind;
  name?: string;
  createdAt: string;
  /** DIDs in the order they joined; for a direct convo this list never changes. */
  members: string[];
  state: Map<string, MemberState>;
  rev: string;
  /** Ascending by rev. */
  messages: StoredMessage[];
}

export type LogKind = 'beginConvo' | 'acceptConvo' | 'leaveConvo' | 'createMessage';

/** One log event as one viewer sees it (events are fanned out to each viewer on write). */
export interface LogEntry {
  viewer: string;
  kind: LogKind;
  rev: string;
  convoId: string;
  messageId?: string;
}

export type ChatStateErrorCode = 'ConvoNotFound' | 'NotMember' | 'InvalidMembers' | 'InsufficientRole' | 'MemberLimitReached' | 'InvalidCursor';

export class ChatStateError extends Error {
  override readonly name = 'ChatStateError';
  constructor(
    readonly code: ChatStateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Bluesky's group size: createGroup's `members` description at bluesky-social/atproto
 * d6296a1 (since a8186e7, August 2026) says "Bluesky currently supports up to 100 total
 * members"; before that the lexicon capped `members` at 49 (50 with the owner).
 */
export const GROUP_MEMBER_LIMIT = 100;

export interface Page<T> {
  items: T[];
  cursor?: string;
}

export class ChatState {
  private readonly convos = new Map<string, Convo>();
  /** Direct convos by their sorted member set, so getConvoForMembers is idempotent. */
  private readonly directByMembers = new Map<string, string>();
  private readonly logs: LogEntry[] = [];
  private lastRev: string | undefined;
  private joins = 0;

  /** Revs are TIDs from one monotonic clock: they sort as strings, which getLog cursors rely on. */
  private nextRev(): string {
    this.lastRev = TID.nextStr(this.lastRev);
    return this.lastRev;
  }

  findDirect(members: readonly string[]): Convo | undefined {
    const id = this.directByMembers.get(memberKey(members));
    return id === undefined ? undefined : this.convos.get(id);
  }

  createConvo(opts: { kind: ConvoKind; owner: string; members: readonly string[]; name?: string }): Convo {
    const members = [...new Set([opts.owner, ...opts.members])];
    if (members.length < 2) {
      throw new ChatStateError('InvalidMembers', 'A conversation needs at least two members');
    }
    if (opts.kind === 'group' && members.length > GROUP_MEMBER_LIMIT) {
      throw new ChatStateError('InvalidMembers', `A group has at most ${GROUP_MEMBER_LIMIT} members`);
    }
    const rev = this.nextRev();
    const convo: Convo = {
      id: TID.nextStr(),
      kind: opts.kind,
      createdAt: new Date().toISOString(),
      members,
      state: new Map(
        members.map((did) => [
          did,
          {
            role: did === opts.owner && opts.kind === 'group' ? 'owner' : 'standard',
            joinSeq: ++this.joins,
            ...(did === opts.owner || opts.kind !== 'group' ? {} : { addedBy: opts.owner }),
            status: did === opts.owner ? 'accepted' : 'request',
            left: false,
            muted: false,
          },
        ]),
      ),
      rev,
      messages: [],
    };
    if (opts.name !== undefined) convo.name = opts.name;
    this.convos.set(convo.id, convo);
    if (opts.kind === 'direct') this.directByMembers.set(memberKey(members), convo.id);
    for (const viewer of members) this.log({ viewer, kind: 'beginConvo', rev, convoId: convo.id });
    return convo;
  }

  /** The convo, if `viewer` may see it. Group members who left lose access; direct ones do not. */
  convoFor(id: string, viewer: string): Convo {
    const convo = this.convos.get(id);
    if (!convo) throw new ChatStateError('ConvoNotFound', `Convo not found: ${id}`);
    const member = convo.state.get(viewer);
    if (!member || (convo.kind === 'group' && member.left)) {
      throw new ChatStateError('NotMember', 'Requester is not a member of this convo');
    }
    return convo;
  }

  sendMessage(convo: Convo, sender: string, input: { text: string; facets?: unknown[] }): StoredMessage {
    const rev = this.nextRev();
    const message: StoredMessage = {
      id: TID.nextStr(),
      rev,
      convoId: convo.id,
      sender,
      text: input.text,
      sentAt: new Date().toISOString(),
    };
    if (input.facets !== undefined) message.facets = input.facets;
    convo.messages.push(message);
    convo.rev = rev;
    const senderState = this.member(convo, sender);
    // Replying accepts a request, and a direct convo someone left comes back when it is used.
    senderState.status = 'accepted';
    senderState.lastReadRev = rev;
    for (const [viewer, state] of convo.state) {
      if (convo.kind === 'direct') state.left = false;
      if (!state.left) this.log({ viewer, kind: 'createMessage', rev, convoId: convo.id, messageId: message.id });
    }
    return message;
  }

  /** Returns the new rev, or undefined if the viewer had already accepted (as the lexicon says). */
  accept(convo: Convo, viewer: string): string | undefined {
    const state = this.member(convo, viewer);
    if (state.status === 'accepted') return undefined;
    state.status = 'accepted';
    const rev = this.nextRev();
    this.log({ viewer, kind: 'acceptConvo', rev, convoId: convo.id });
    return rev;
  }

  leave(convo: Convo, viewer: string): string {
    this.member(convo, viewer).left = true;
    // Leaving a group ends the membership: the others no longer see the leaver as a member.
    if (convo.kind === 'group') convo.members = convo.members.filter((did) => did !== viewer);
    const rev = this.nextRev();
    this.log({ viewer, kind: 'leaveConvo', rev, convoId: convo.id });
    return rev;
  }

  /** chat.bsky.group.addMembers: the group's owner adds people (they start in requests). */
  addMembers(convo: Convo, by: string, dids: readonly string[]): string[] {
    this.requireOwner(convo, by);
    const added = [...new Set(dids)].filter((did) => !convo.members.includes(did));
    if (convo.members.length + added.length > GROUP_MEMBER_LIMIT) {
      throw new ChatStateError('MemberLimitReached', `A group has at most ${GROUP_MEMBER_LIMIT} members`);
    }
    const rev = this.nextRev();
    for (const did of added) {
      convo.members.push(did);
      convo.state.set(did, { role: 'standard', joinSeq: ++this.joins, addedBy: by, status: 'request', left: false, muted: false });
      this.log({ viewer: did, kind: 'beginConvo', rev, convoId: convo.id });
    }
    convo.rev = rev;
    return added;
  }

  /** chat.bsky.group.removeMembers: deletes the memberships (the lexicon says so). */
  removeMembers(convo: Convo, by: string, dids: readonly string[]): void {
    this.requireOwner(convo, by);
    if (dids.includes(by)) throw new ChatStateError('InvalidMembers', 'The owner cannot remove themselves');
    convo.members = convo.members.filter((did) => !dids.includes(did));
    for (const did of dids) convo.state.delete(did);
    convo.rev = this.nextRev();
  }

  private requireOwner(convo: Convo, did: string): void {
    if (convo.kind !== 'group') throw new ChatStateError('InvalidMembers', 'Only group conversations change members');
    if (this.member(convo, did).role !== 'owner') throw new ChatStateError('InsufficientRole', 'Only the owner changes members');
  }

  markRead(convo: Convo, viewer: string, messageId?: string): void {
    const upTo = messageId === undefined ? convo.messages.at(-1) : convo.messages.find((m) => m.id === messageId);
    if (upTo) this.member(convo, viewer).lastReadRev = upTo.rev;
  }

  unreadCount(convo: Convo, viewer: string): number {
    const lastRead = this.member(convo, viewer).lastReadRev ?? '';
    return convo.messages.filter((m) => m.sender !== viewer && m.rev > lastRead).length;
  }

  memberState(convo: Convo, viewer: string): MemberState {
    return this.member(convo, viewer);
  }

  /**
   * chat.bsky.convo.getConvoMembers: current members in the order they joined. The cursor is
   * the last returned member's join number, so someone leaving between two pages moves no one
   * else out of the next page (an offset would skip a member, who would then read as gone).
   */
  convoMembers(convo: Convo, opts: { limit: number; cursor?: string }): Page<string> {
    if (opts.cursor !== undefined && !/^[0-9]{1,15}$/.test(opts.cursor)) {
      throw new ChatStateError('InvalidCursor', 'Malformed cursor');
    }
    const after = opts.cursor === undefined ? 0 : Number(opts.cursor);
    const seq = (did: string) => this.member(convo, did).joinSeq;
    const later = convo.members.filter((did) => seq(did) > after).sort((a, b) => seq(a) - seq(b));
    return page(later, opts.limit, (did) => String(seq(did)));
  }

  /** The viewer's visible convos, most recently active first; the cursor is the last convo's rev. */
  listConvos(
    viewer: string,
    opts: { limit: number; cursor?: string; status?: string; kind?: string; unreadOnly?: boolean },
  ): Page<Convo> {
    const matching = [...this.convos.values()]
      .filter((c) => {
        const state = c.state.get(viewer);
        if (!state || state.left) return false;
        if (opts.status !== undefined && state.status !== opts.status) return false;
        if (opts.kind !== undefined && c.kind !== opts.kind) return false;
        if (opts.unreadOnly && this.unreadCount(c, viewer) === 0) return false;
        return opts.cursor === undefined || c.rev < opts.cursor;
      })
      .sort((a, b) => compareDesc(a.rev, b.rev));
    return page(matching, opts.limit, (c) => c.rev);
  }

  /** Newest first, as Bluesky returns them; the cursor is the oldest returned message's rev. */
  messages(convo: Convo, opts: { limit: number; cursor?: string }): Page<StoredMessage> {
    const older = convo.messages.filter((m) => opts.cursor === undefined || m.rev < opts.cursor).reverse();
    return page(older, opts.limit, (m) => m.rev);
  }

  /**
   * The viewer's events after `cursor` (all of them without one), oldest first. The returned
   * cursor is the rev of the last event returned, or the given cursor when nothing is new, so a
   * poller can always pass back what it got.
   */
  logsFor(viewer: string, opts: { cursor?: string; limit: number }): Page<LogEntry> {
    const items = this.logs
      .filter((e) => e.viewer === viewer && (opts.cursor === undefined || e.rev > opts.cursor))
      .slice(0, opts.limit);
    const cursor = items.at(-1)?.rev ?? opts.cursor;
    return cursor === undefined ? { items } : { items, cursor };
  }

  findMessage(convoId: string, messageId: string): StoredMessage | undefined {
    return this.convos.get(convoId)?.messages.find((m) => m.id === messageId);
  }

  /** Every message text the service holds, for tests asserting that no plaintext reaches it. */
  messageTexts(): string[] {
    return [...this.convos.values()].flatMap((c) => c.messages.map((m) => m.text));
  }

  private member(convo: Convo, did: string): MemberState {
    const state = convo.state.get(did);
    if (!state) throw new ChatStateError('NotMember', 'Requester is not a member of this convo');
    return state;
  }

  private log(entry: LogEntry): void {
    this.logs.push(entry);
  }
}

function memberKey(members: readonly string[]): string {
  return [...new Set(members)].sort().join(' ');
}

function compareDesc(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

function page<T>(sorted: T[], limit: number, cursorOf: (item: T) => string): Page<T> {
  const items = sorted.slice(0, limit);
  const last = items.at(-1);
  // Only hand out a cursor when there may be more, so clients stop paging on their own.
  return sorted.length > limit && last !== undefined ? { items, cursor: cursorOf(last) } : { items };
}

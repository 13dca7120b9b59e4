import { bytesEqual, toHex } from '../bytes';
import { isAtmError, type AtmErrorCode } from '../errors';
import { changeMembers, decodeGroupState, members, ownLeafIndex, type GroupState, type Member } from '../mls';
import { didOfIdentity, isTid, parseDeviceUri } from '../protocol/device-uri';
import { DEVICE, DEVICE_COLLECTION_NSID, parseRecord } from '../protocol/records';
import type { AuthenticationService } from './authentication-service';
import { afterOwnCommit, afterOwnCommitOnParent } from './commits';
import { outranks, rankBeforeBytes } from './commit-rank';
import { invitesFor } from './create-group';
import type { DeliveryDeps, DeliveryPolicy } from './delivery-deps';
import type { ChangeSet, GroupRecord } from './delivery-state';
import { findKeyPackages, type DeviceKeyPackage } from './key-package-directory';

/**
 * Membership upkeep (docs/protocol.md §6.9): a group's leaves follow its people's devices.
 * - `add`: a device its owner published that is not in the group (a user's new browser, someone
 *   who installed later, someone added to the bsky conversation);
 * - `revoke`: a leaf whose device record the owner's signed repo provably no longer holds, or
 *   holds with another key or in a form that no longer validates;
 * - `leave`: the devices of someone who is no longer in the bsky conversation.
 * Every change names an `owner` DID. The owner's own devices act on it first; everyone else
 * waits their turn (see `turnDelayMs`), so a change is usually committed once, not by everyone.
 */
export type MembershipChange =
  | { kind: 'add'; key: string; owner: string; keyPackage: DeviceKeyPackage }
  | { kind: 'revoke' | 'leave'; key: string; owner: string; member: Member };

/** Revocation verdicts of the Authentication Service: proven by the owner's signed repo. */
const REVOKED: ReadonlySet<AtmErrorCode> = new Set(['UnknownDevice', 'KeyMismatch', 'InvalidRecord']);

/** The signature key each device record of a DID names (unauthenticated: a hint to check). */
export type DeviceListing = ReadonlyMap<string, Uint8Array>;

export async function listDevices(deps: Pick<DeliveryDeps, 'publicRepos'>, did: string): Promise<DeviceListing> {
  const out = new Map<string, Uint8Array>();
  for (const record of await deps.publicRepos.listRecords(did, DEVICE_COLLECTION_NSID, { max: 100 })) {
    if (!isTid(record.rkey)) continue;
    try {
      out.set(record.rkey, parseRecord(DEVICE, record.value, record.uri).signatureKey);
    } catch {
      // An invalid record is no device: nothing to add, and its leaf (if any) is checked below.
    }
  }
  return out;
}

export interface ReviewOptions {
  /** Device listings already fetched in this pass (shared across groups). */
  listings?: Map<string, Promise<DeviceListing>>;
  /** Only these DIDs' devices are looked at (people who left are always found). */
  only?: ReadonlySet<string>;
  onError?(error: unknown): void;
}

/**
 * What the group should change to match its people. Reads listings and proofs; decides nothing
 * on a network failure (that person is skipped until the next review).
 */
export async function reviewMembership(
  deps: DeliveryDeps & { as: AuthenticationService },
  group: GroupRecord,
  options: ReviewOptions = {},
): Promise<MembershipChange[]> {
  const state = decodeGroupState(deps.mls, group.state);
  const leaves = members(state);
  const own = ownLeafIndex(state);
  const changes: MembershipChange[] = [];

  let people: Set<string>;
  if (group.convoId && deps.conversationDids) {
    // The bsky conversation is the authority on who is in it.
    people = new Set(await deps.conversationDids(group.convoId));
    // Not (or no longer) in the conversation ourselves: not ours to change anything.
    if (!people.has(deps.device.did)) return [];
    for (const member of leaves) {
      const did = didOfIdentity(member.identity);
      if (did && !people.has(did)) changes.push({ kind: 'leave', key: `leave ${member.identity}`, owner: did, member });
    }
  } else {
    people = new Set(group.memberDids);
  }

  const listings = options.listings ?? new Map<string, Promise<DeviceListing>>();
  for (const did of people) {
    if (options.only && !options.only.has(did)) continue;
    let listing: DeviceListing;
    try {
      let pending = listings.get(did);
      if (!pending) {
        pending = listDevices(deps, did);
        listings.set(did, pending);
      }
      listing = await pending;
    } catch (error) {
      options.onError?.(error);
      continue;
    }
    const theirs = leaves.filter((m) => didOfIdentity(m.identity) === did);
    let forgotten = false;
    for (const member of theirs) {
      if (member.leafIndex === own) continue;
      const listed = listing.get(parseDeviceUri(member.identity).rkey);
      if (listed && bytesEqual(listed, member.signaturePublicKey)) continue;
      // The listing is only a hint: a revocation must be proven by the owner's signed repo.
      if (!forgotten) {
        deps.as.forget(did);
        forgotten = true;
      }
      if (await provenRevoked(deps.as, member, options.onError)) {
        changes.push({ kind: 'revoke', key: `revoke ${member.identity}`, owner: did, member });
      }
    }
    const present = new Set(theirs.map((m) => parseDeviceUri(m.identity).rkey));
    // Nobody's key packages are spent for a group that stands for no conversation (§6.6), when
    // this device knows conversations at all.
    if (deps.conversationDids && !group.convoId) continue;
    if ([...listing.keys()].every((rkey) => present.has(rkey))) continue;
    try {
      const found = await findKeyPackages(deps, did, { excludeDevices: present });
      for (const keyPackage of found.keyPackages) {
        changes.push({ kind: 'add', key: `add at://${did}/${keyPackage.device}`, owner: did, keyPackage });
      }
    } catch (error) {
      options.onError?.(error);
    }
  }
  return changes;
}

async function provenRevoked(as: AuthenticationService, member: Member, onError?: (error: unknown) => void): Promise<boolean> {
  try {
    await as.verify(member.identity, member.signaturePublicKey);
    return false;
  } catch (error) {
    if (isAtmError(error) && REVOKED.has(error.code)) return true;
    // Unreachable PDS, refused request, unresolvable DID: undecided, never a removal.
    onError?.(error);
    return false;
  }
}

async function leafRank(groupId: string, epoch: string, leafIndex: number): Promise<string> {
  const bytes = new TextEncoder().encode(`${groupId}/${epoch}/${leafIndex}`);
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/**
 * The group's leaves in turn order: those of recently active people first, then the rest, each
 * part by a hash every member computes alike for this epoch. Members' views of who is active
 * come from the same repos, so they rarely differ (and §6.7 settles it when they do).
 */
async function turnOrder(groupId: string, epoch: string, leaves: Member[], active: ReadonlySet<string>): Promise<number[]> {
  const withRank = await Promise.all(
    leaves.map(async (m) => ({
      leaf: m.leafIndex,
      first: active.has(didOfIdentity(m.identity) ?? ''),
      rank: await leafRank(groupId, epoch, m.leafIndex),
    })),
  );
  return withRank
    .sort((a, b) => (a.first !== b.first ? (a.first ? -1 : 1) : a.rank < b.rank ? -1 : 1))
    .map((r) => r.leaf);
}

/**
 * How long after first noticing `change` this device should wait before committing it. One
 * order of the leaves per epoch decides turns, `staggerSlotMs` apart: recently active people's
 * leaves first (in a big group most members are offline, and their turns would only be waited
 * out), each part by a hash of group, epoch and leaf index. The owner's remaining devices go first, in that order. Everyone else
 * waits for the owner's turns and then takes the turn of their place in the whole order, so the
 * same member is first for every change that no owner makes (leaves, newcomers) and commits
 * them all at once. For a new device whose owner has devices in the group, the others wait
 * `peerAddDelayMs` more: adding is the owner's job while one of their devices is online. Two
 * members acting at once is still correct (§6.7 picks one commit); turns only make it rare.
 */
export async function turnDelayMs(
  policy: Pick<DeliveryPolicy, 'staggerSlotMs' | 'peerAddDelayMs'>,
  group: GroupRecord,
  state: GroupState,
  change: MembershipChange,
  /** DIDs seen publishing recently (ours included): they take the first turns. */
  active: ReadonlySet<string> = new Set(),
): Promise<number> {
  const own = ownLeafIndex(state);
  const leaves = members(state);
  const order = await turnOrder(group.groupId, group.current.epoch, leaves, active);
  const owners = new Set(leaves.filter((m) => didOfIdentity(m.identity) === change.owner).map((m) => m.leafIndex));
  // Leaving people do not act; a revoked leaf is not its owner's to remove.
  const ownerActors =
    change.kind === 'leave' ? [] : order.filter((leaf) => owners.has(leaf) && (change.kind === 'add' || leaf !== change.member.leafIndex));
  const ownerTurn = ownerActors.indexOf(own);
  if (ownerTurn >= 0) return ownerTurn * policy.staggerSlotMs;
  const base =
    change.kind === 'add' && ownerActors.length > 0 ? policy.peerAddDelayMs : ownerActors.length * policy.staggerSlotMs;
  return base + order.indexOf(own) * policy.staggerSlotMs;
}

/**
 * One commit making `changes` (adds and removes together), plus a stealth invite per added
 * device. Deferred like every commit while the epoch is not final (§6.7), except `onParent`:
 * made on the parent's epoch instead, when the caller has checked that it outranks the winner
 * so far. A lost race is redone by the next review.
 */
export async function commitMembership(
  deps: DeliveryDeps & { as: AuthenticationService },
  group: GroupRecord,
  changes: readonly MembershipChange[],
  options: { onParent?: boolean } = {},
): Promise<ChangeSet> {
  const parent = options.onParent ? group.parent : undefined;
  if (options.onParent && !parent) return {};
  const state = decodeGroupState(deps.mls, parent ? parent.state : group.state);
  const adds: DeviceKeyPackage[] = [];
  for (const change of changes) {
    if (change.kind !== 'add') continue;
    // Readers prove an added device afresh (§6.7); so does the committer, or a device revoked
    // since its key package was read would make the commit one every reader refuses.
    const identity = `at://${change.keyPackage.did}/${DEVICE_COLLECTION_NSID}/${change.keyPackage.device}`;
    try {
      await deps.as.verify(identity, change.keyPackage.keyPackage.leafNode.signaturePublicKey, { fresh: true });
      adds.push(change.keyPackage);
    } catch {
      // Refused or unreachable: not added now; the next review decides again.
    }
  }
  const removes = [...new Set(changes.flatMap((c) => (c.kind === 'add' ? [] : [c.member.leafIndex])))];
  if (adds.length === 0 && removes.length === 0) return {};
  if (parent) {
    // On the parent only a commit that outranks the waiting one whatever its bytes (§6.7 rule 5).
    const parts = { groupId: group.groupId, epoch: (BigInt(group.current.epoch) - 1n).toString() };
    const mine = await rankBeforeBytes({ ...parts, committerLeaf: ownLeafIndex(state), removed: removes.length, added: adds.length });
    if (!outranks(mine, parent.winnerRank)) return {};
  }
  const result = await changeMembers(deps.mls, state, { add: adds.map((a) => a.keyPackage), remove: removes });
  const counts = { pathUpdate: removes.length > 0, removed: removes.length, added: adds.length };
  const after = parent
    ? await afterOwnCommitOnParent(deps, { ...group, parent }, result.newState, result.commit, { kind: 'members' }, counts)
    : await afterOwnCommit(deps, group, result.newState, result.commit, { kind: 'members' }, counts);
  const invites =
    result.welcome && result.ratchetTree ? await invitesFor(deps, adds, result.welcome, result.ratchetTree) : [];
  return { putGroups: [after.group], putOutbox: [...(after.changes.putOutbox ?? []), ...invites] };
}

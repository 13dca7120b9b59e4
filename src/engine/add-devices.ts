import { addMembers, decodeGroupState, members } from '../mls';
import { afterOwnCommit } from './commits';
import { invitesFor } from './create-group';
import type { DeliveryDeps } from './delivery-deps';
import type { ChangeSet, GroupRecord } from './delivery-state';
import { findKeyPackages, type DeviceKeyPackage } from './key-package-directory';
import type { AuthenticationService } from './authentication-service';

/**
 * Adds to a group every device of its people that is not in it yet: a device registered after
 * the group was made (a user's new browser), or someone who installed the extension later. One
 * commit with all the adds, and a stealth invite per added device; nothing while the epoch is
 * not final (§6.7). Two members adding the same device at once are settled by the ordering rule,
 * and the loser's next pass finds nothing missing.
 */
export async function addMissingDevices(
  deps: DeliveryDeps & { as: AuthenticationService },
  group: GroupRecord,
): Promise<ChangeSet | undefined> {
  if (!group.active || group.parent || group.deferred || group.supersededBy) return undefined;
  const people = new Set(group.memberDids);
  if (group.convoId && deps.conversationDids) {
    for (const did of await deps.conversationDids(group.convoId)) people.add(did);
  }
  const state = decodeGroupState(deps.mls, group.state);
  const present = new Set(members(state).map((m) => m.identity));
  const toAdd: DeviceKeyPackage[] = [];
  for (const did of people) {
    const found = await findKeyPackages(deps, did);
    for (const kp of found.keyPackages) {
      if (!present.has(`at://${did}/org.atmessaging.device/${kp.device}`)) toAdd.push(kp);
    }
  }
  if (toAdd.length === 0) return undefined;
  const result = await addMembers(
    deps.mls,
    state,
    toAdd.map((k) => k.keyPackage),
  );
  const after = await afterOwnCommit(deps, group, result.newState, result.commit, { kind: 'add' });
  const invites = await invitesFor(deps, toAdd, result.welcome, result.ratchetTree);
  return { putGroups: [after.group], putOutbox: [...(after.changes.putOutbox ?? []), ...invites] };
}

import type { MemberView } from '../../rpc/methods';
import { Avatar } from './Avatar';
import { InviteButton } from './InviteButton';
import { SafetyControls } from './SafetyControls';
import { deviceLabel, memberName } from './names';

interface Props {
  convoId: string;
  member: MemberView;
  isMe: boolean;
  onError(text: string): void;
}

export function MemberItem({ convoId, member, isMe, onError }: Props) {
  const name = memberName(member);
  return (
    <li class="member" data-testid={`panel-member-${member.did}`}>
      <div class="member-head">
        <Avatar member={member} label={`Profile picture of ${name}`} size={24} />
        <span class="name">{isMe ? `${name} (you)` : name}</span>
        {member.handle && member.displayName && <span class="muted"> @{member.handle}</span>}
        {!isMe && <SafetyControls member={member} name={name} />}
      </div>
      {member.withoutExtension ? (
        <div class="member-row">
          <span class="muted">Doesn't use atmessaging yet</span>
          <InviteButton convoId={convoId} did={member.did} name={name} onError={onError} />
        </div>
      ) : member.devices.length === 0 ? (
        <p class="muted">No devices in this conversation yet.</p>
      ) : (
        <ul class="devices" aria-label={`Devices of ${name}`}>
          {member.devices.map((device) => (
            <li key={device.uri} title={device.uri}>
              Device {deviceLabel(device.uri)}: {/* Words, not only colour or an icon, carry the verification state. */}
              {device.verified ? (
                <span class="verified">✓ verified</span>
              ) : (
                <span class="unverified">⚠ not verified (its key is not confirmed by the account's repo)</span>
              )}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

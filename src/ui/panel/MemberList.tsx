import type { MemberView } from '../../rpc/methods';
import { MemberItem } from './MemberItem';

interface Props {
  convoId: string;
  members: readonly MemberView[];
  me: string | undefined;
  onError(text: string): void;
}

/** A native disclosure: keyboard and screen-reader behaviour come with the element. */
export function MemberList({ convoId, members, me, onError }: Props) {
  const missing = members.filter((m) => m.withoutExtension).length;
  // Open when there is something to act on or look at (an invite, an unverified key); otherwise
  // the history gets the room. The user's own toggling is not overridden afterwards.
  const attention =
    missing > 0 || members.some((m) => m.devices.some((d) => !d.verified) || m.safety === 'changed');
  return (
    <details class="members" data-testid="panel-members" open={attention}>
      <summary>
        Members ({members.length}){missing > 0 ? ` · ${missing} without atmessaging` : ''}
      </summary>
      <ul>
        {members.map((m) => (
          <MemberItem key={m.did} convoId={convoId} member={m} isMe={m.did === me} onError={onError} />
        ))}
      </ul>
    </details>
  );
}

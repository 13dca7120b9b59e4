import { useState } from 'preact/hooks';
import type { MemberView } from '../../rpc/methods';
import { memberName } from './names';
import { VerifyDialog } from './VerifyDialog';

/**
 * Shown above the conversation, whatever the member list's disclosure state, while a verified
 * contact's devices differ from the ones verified. It stays until the user compares again (or
 * unverifies): a warning that went away by itself would teach people to ignore it.
 */
export function SafetyBanner({ members }: { members: readonly MemberView[] }) {
  const [comparing, setComparing] = useState<string | undefined>();
  const changed = members.filter((m) => m.safety === 'changed');
  const comparedWith = members.find((m) => m.did === comparing);
  // The dialog outlives the banner: re-verifying in it makes the banner go, not the dialog.
  const dialog = comparedWith && (
    <VerifyDialog
      did={comparedWith.did}
      name={memberName(comparedWith)}
      onClose={() => setComparing(undefined)}
      onState={() => {}}
    />
  );
  const names = changed.map(memberName);
  const who = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  // The dialog stays in the same place in the tree whether or not the banner shows.
  return (
    <>
      {changed.length > 0 && (
        <div class="safety-banner" role="alert" data-testid="panel-safety-warning">
          <p>
            <strong>⚠ Keys changed.</strong> {who} {changed.length === 1 ? 'has' : 'have'} different devices than when
            you verified {changed.length === 1 ? 'them' : 'each of them'}. Compare safety numbers again before you trust
            this conversation.
          </p>
          <div class="safety-banner-actions">
            {changed.map((m) => (
              <button
                type="button"
                class="small"
                key={m.did}
                data-testid={`panel-safety-compare-${m.did}`}
                aria-haspopup="dialog"
                onClick={() => setComparing(m.did)}
              >
                Compare with {memberName(m)}
              </button>
            ))}
          </div>
        </div>
      )}
      {dialog}
    </>
  );
}

import { useState } from 'preact/hooks';
import type { ContactSafetyView, MemberView, SafetyState } from '../../rpc/methods';
import { SafetyBadge } from './SafetyBadge';
import { VerifyDialog } from './VerifyDialog';

const ACTION: Record<SafetyState, string> = {
  unverified: 'Verify',
  verified: 'Safety number',
  changed: 'Compare again',
};

/**
 * A member's safety-number badge and the button that opens the verify dialog. What the dialog
 * reports is shown at once; the next view from the background (which it triggers) replaces it.
 */
export function SafetyControls({ member, name }: { member: MemberView; name: string }) {
  const [open, setOpen] = useState(false);
  const [reported, setReported] = useState<{ view: ContactSafetyView; over: SafetyState | undefined }>();
  const state = reported && reported.over === member.safety ? reported.view.state : member.safety;
  // Nothing to show before the background could check, nor to verify for someone without devices.
  if (!state || (member.withoutExtension && state === 'unverified')) return null;
  return (
    <span class="safety-controls">
      <SafetyBadge testId={`panel-safety-${member.did}`} state={state} />
      <button
        type="button"
        class="small secondary"
        data-testid={`panel-verify-${member.did}`}
        data-safety-opener={member.did}
        aria-haspopup="dialog"
        aria-label={`${ACTION[state]}: safety number with ${name}`}
        onClick={() => setOpen(true)}
      >
        {ACTION[state]}
      </button>
      {open && (
        <VerifyDialog
          did={member.did}
          name={name}
          onClose={() => setOpen(false)}
          onState={(view) => setReported({ view, over: member.safety })}
        />
      )}
    </span>
  );
}

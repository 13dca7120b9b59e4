import type { SafetyState } from '../../rpc/methods';

const TEXT: Record<SafetyState, string> = {
  verified: '✓ Verified',
  unverified: 'Not verified',
  changed: '⚠ Keys changed',
};

const TITLE: Record<SafetyState, string> = {
  verified: 'You compared safety numbers and their devices are the same as then.',
  unverified: 'You have not compared safety numbers with this person.',
  changed: 'Their devices changed since you verified them: compare safety numbers again.',
};

/** The safety number's state in words (never colour or an icon alone). */
export function SafetyBadge({ state, testId }: { state: SafetyState; testId: string }) {
  return (
    <span class={`safety-badge safety-${state}`} data-testid={testId} data-state={state} title={TITLE[state]}>
      {TEXT[state]}
    </span>
  );
}

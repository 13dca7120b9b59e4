import { useEffect, useRef } from 'preact/hooks';
import type { AuthStatus } from '../../rpc/methods';
import { SignOut } from './SignOut';

type SignedIn = Extract<AuthStatus, { signedIn: true }>;

export function Account({ status, onSignedOut }: { status: SignedIn; onSignedOut(status: AuthStatus): void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  // After signing in, the form that had focus is gone: give focus a place to land.
  useEffect(() => {
    if (document.activeElement === document.body || !document.activeElement) heading.current?.focus();
  }, []);
  return (
    <div class="account" data-testid="account">
      <h2 ref={heading} tabIndex={-1}>
        Signed in
      </h2>
      <dl>
        <dt>Handle</dt>
        <dd data-testid="account-handle">@{status.handle}</dd>
        <dt>DID</dt>
        <dd data-testid="account-did">{status.did}</dd>
        <dt>This device</dt>
        <dd data-testid="account-device">{status.deviceUri}</dd>
      </dl>
      <SignOut onSignedOut={onSignedOut} />
    </div>
  );
}

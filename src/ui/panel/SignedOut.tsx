/** Signing in happens in the popup: the panel lives inside bsky.app and never asks for a password. */
export function SignedOut() {
  return (
    <div class="notice">
      <p data-testid="panel-signed-out">Sign in from the atmessaging toolbar button</p>
      <p class="muted">Your encrypted messages appear here once this browser is signed in.</p>
    </div>
  );
}

import { useEffect, useRef, useState } from 'preact/hooks';
import type { AuthStatus } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';
import { signInErrorMessage, type SignInErrorMessage } from './sign-in-errors';

/** Handle + app password (with DM access): the chat API is only reachable through the PDS proxy. */
export function SignInForm({ onSignedIn }: { onSignedIn(status: AuthStatus): void }) {
  const rpc = useRpc();
  const [identifier, setIdentifier] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<(SignInErrorMessage & { code: string }) | undefined>();
  const identifierRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => identifierRef.current?.focus(), []);

  async function submit(event: Event) {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(undefined);
    try {
      const status = await rpc.call('auth.signIn', {
        identifier: identifier.trim().replace(/^@/, ''),
        appPassword: password,
      });
      setPassword('');
      onSignedIn(status);
    } catch (e) {
      const code = errorCode(e);
      const message = signInErrorMessage(code);
      setError({ ...message, code });
      (message.field === 'identifier' ? identifierRef : passwordRef).current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="signin" aria-labelledby="signin-title" aria-busy={busy} onSubmit={(e) => void submit(e)}>
      <h2 id="signin-title">Sign in</h2>
      <label for="signin-identifier">Handle</label>
      <input
        id="signin-identifier"
        ref={identifierRef}
        data-testid="signin-identifier"
        type="text"
        required
        autocomplete="username"
        autocapitalize="off"
        spellcheck={false}
        placeholder="alice.bsky.social"
        value={identifier}
        readOnly={busy}
        aria-invalid={error?.field === 'identifier'}
        aria-describedby={error ? 'signin-error' : undefined}
        onInput={(e) => setIdentifier(e.currentTarget.value)}
      />
      <label for="signin-password">App password</label>
      <input
        id="signin-password"
        ref={passwordRef}
        data-testid="signin-password"
        type="password"
        required
        // Never offered to a password manager's autofill: this is a scoped app password.
        autocomplete="off"
        value={password}
        readOnly={busy}
        aria-invalid={error?.field === 'password'}
        aria-describedby={error ? 'signin-password-hint signin-error' : 'signin-password-hint'}
        onInput={(e) => setPassword(e.currentTarget.value)}
      />
      <span id="signin-password-hint" class="hint">
        Not your account password: create an app password on bsky.app under Settings → Privacy and security → App
        passwords, with “Allow access to your direct messages” ticked.
      </span>
      {error && (
        <p id="signin-error" role="alert" data-testid="signin-error" data-code={error.code}>
          {error.text}
        </p>
      )}
      <button type="submit" data-testid="signin-submit" aria-disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

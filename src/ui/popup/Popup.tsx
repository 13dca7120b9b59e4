import type { AuthStatus } from '../../rpc/methods';
import { BackgroundInfo } from '../BackgroundInfo';
import { useRpc } from '../rpc-context';
import { useLoadable } from '../use-rpc';
import { Account } from './Account';
import { SignInForm } from './SignInForm';

export function Popup() {
  const rpc = useRpc();
  const [auth, reload, setAuth] = useLoadable(() => rpc.call('auth.status', {}), [rpc]);
  const show = (value: AuthStatus) => setAuth({ state: 'ready', value });

  return (
    <section class="popup" aria-labelledby="popup-title">
      <h1 id="popup-title">atmessaging</h1>
      <BackgroundInfo />
      {auth.state === 'loading' ? (
        <p class="muted">Checking sign-in…</p>
      ) : auth.state === 'error' ? (
        <div>
          <p role="alert" data-testid="auth-error">
            Could not read the sign-in state ({auth.code}).
          </p>
          <button type="button" onClick={reload}>
            Try again
          </button>
        </div>
      ) : auth.value.signedIn ? (
        <Account status={auth.value} onSignedOut={show} />
      ) : (
        <SignInForm onSignedIn={show} />
      )}
      <p class="muted">Open a conversation on bsky.app and use the 🔒 toggle to chat end-to-end encrypted.</p>
    </section>
  );
}

// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthStatus } from '../../../src/rpc/methods';
import { Popup } from '../../../src/ui/popup/Popup';
import { byTestId, callsOf, click, fakeRpc, mount, rpcError, settle, submit, type, unmountAll } from './harness';

const SIGNED_IN: AuthStatus = {
  signedIn: true,
  did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa',
  handle: 'alice.test',
  pds: 'https://pds.test',
  deviceUri: 'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/org.atmessaging.device/abc',
};

function popupRpc(auth: AuthStatus) {
  return fakeRpc({
    'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
    'auth.status': () => auth,
  });
}

afterEach(unmountAll);

async function signInWith(code: string) {
  const rpc = popupRpc({ signedIn: false });
  rpc.handlers['auth.signIn'] = () => {
    throw rpcError(code);
  };
  const root = mount(rpc, <Popup />);
  await settle();
  await type(byTestId(root, 'signin-identifier'), '@alice.test ');
  await type(byTestId(root, 'signin-password'), 'xxxx-xxxx-xxxx-xxxx');
  await submit(byTestId(root, 'signin-submit').closest('form')!);
  expect(callsOf(rpc, 'auth.signIn')).toEqual([{ identifier: 'alice.test', appPassword: 'xxxx-xxxx-xxxx-xxxx' }]);
  return { root, error: byTestId(root, 'signin-error') };
}

describe('popup sign-in', () => {
  it('has a labelled handle field and a password field kept out of autofill', async () => {
    const root = mount(popupRpc({ signedIn: false }), <Popup />);
    await settle();
    const password = byTestId<HTMLInputElement>(root, 'signin-password');
    expect(password.type).toBe('password');
    expect(password.getAttribute('autocomplete')).toBe('off');
    expect(root.querySelector('label[for="signin-identifier"]')?.textContent).toBe('Handle');
  });

  it.each([
    ['InvalidCredentials', 'Wrong handle or app password'],
    ['NoDmAccess', 'Allow access to your direct messages'],
    ['Network', "Can't reach the server"],
    ['HandleNotFound', 'No account was found for this handle'],
    ['HandleMismatch', "doesn't lead to a matching account"],
    ['AccountUnavailable', 'Sign-in failed (AccountUnavailable)'],
  ])('explains %s', async (code, text) => {
    const { error } = await signInWith(code);
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toContain(text);
  });

  it('shows the account after signing in', async () => {
    const rpc = popupRpc({ signedIn: false });
    rpc.handlers['auth.signIn'] = () => SIGNED_IN;
    const root = mount(rpc, <Popup />);
    await settle();
    await type(byTestId(root, 'signin-identifier'), 'alice.test');
    await type(byTestId(root, 'signin-password'), 'pw');
    await submit(byTestId(root, 'signin-submit').closest('form')!);
    expect(byTestId(root, 'account-handle').textContent).toBe('@alice.test');
  });
});

describe('popup account', () => {
  it('shows handle, DID and device, and signs out only after confirming', async () => {
    const rpc = popupRpc(SIGNED_IN);
    rpc.handlers['auth.signOut'] = () => ({ signedIn: false });
    const root = mount(rpc, <Popup />);
    await settle();
    expect(byTestId(root, 'account-did').textContent).toBe(SIGNED_IN.did);
    expect(byTestId(root, 'account-device').textContent).toBe((SIGNED_IN as { deviceUri: string }).deviceUri);

    await click(byTestId(root, 'signout'));
    expect(callsOf(rpc, 'auth.signOut')).toEqual([]);
    expect(root.textContent).toContain("deletes this device's keys and its encrypted message history");
    expect(document.activeElement).toBe(byTestId(root, 'signout-cancel'));

    await click(byTestId(root, 'signout-confirm'));
    expect(callsOf(rpc, 'auth.signOut')).toEqual([{ confirm: true }]);
    expect(byTestId(root, 'signin-identifier')).toBeTruthy();
  });

  it('cancelling keeps the session', async () => {
    const rpc = popupRpc(SIGNED_IN);
    const root = mount(rpc, <Popup />);
    await settle();
    await click(byTestId(root, 'signout'));
    await click(byTestId(root, 'signout-cancel'));
    expect(root.querySelector('[data-testid="signout-confirm"]')).toBeNull();
    expect(document.activeElement).toBe(byTestId(root, 'signout'));
    expect(callsOf(rpc, 'auth.signOut')).toEqual([]);
  });
});

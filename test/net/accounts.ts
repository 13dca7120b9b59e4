import { randomBytes } from 'node:crypto';
import { AtpAgent } from '@atproto/api';

/** Handles on the local PDS are `<name>.test`. */
export const HANDLE_DOMAIN = '.test';

export interface Account {
  did: string;
  handle: string;
  /** The account password: full access, what the PDS sign-in form would take. */
  password: string;
  /**
   * A privileged app password ("allow access to your direct messages"), the credential the
   * extension signs in with: the PDS refuses to proxy chat.bsky.* for unprivileged ones.
   */
  appPassword: string;
  email: string;
  /** Access token of the full-password session made at creation (short-lived). */
  accessJwt: string;
  refreshJwt: string;
}

export class AccountNameError extends Error {
  override readonly name = 'AccountNameError';
}

// The PDS takes 3 to 18 characters before the service domain (ensureHandleServiceConstraints)
// and handle syntax allows letters, digits and inner hyphens.
const NAME = /^[a-z0-9](?:[a-z0-9-]{1,16})[a-z0-9]$/;

export function assertAccountName(name: string): void {
  if (!NAME.test(name)) {
    throw new AccountNameError(
      `Account name ${JSON.stringify(name)} must be 3-18 of [a-z0-9-] (the PDS limit for <name>${HANDLE_DOMAIN})`,
    );
  }
}

/**
 * A name no other test file will pick on the shared network: the prefix (at most 12 characters)
 * plus 6 random base-36 characters. Use one prefix per file and role, e.g. uniqueName('netalice').
 */
export function uniqueName(prefix: string): string {
  const suffix = BigInt(`0x${randomBytes(8).toString('hex')}`).toString(36).slice(-6).padStart(6, '0');
  const name = `${prefix.toLowerCase()}${suffix}`;
  assertAccountName(name);
  return name;
}

/**
 * Creates `<name>.test` on the PDS through its public API (no shortcut into its database), then
 * a privileged app password for it.
 */
export async function createAccount(pdsUrl: string, name: string): Promise<Account> {
  assertAccountName(name);
  const handle = `${name}${HANDLE_DOMAIN}`;
  const password = `${name}-password`;
  const email = `${name}@example.com`;
  const agent = new AtpAgent({ service: pdsUrl });
  const created = await agent.createAccount({ handle, email, password });
  const appPassword = await agent.com.atproto.server.createAppPassword({ name: 'atmessaging', privileged: true });
  return {
    did: created.data.did,
    handle,
    password,
    appPassword: appPassword.data.password,
    email,
    accessJwt: created.data.accessJwt,
    refreshJwt: created.data.refreshJwt,
  };
}

/**
 * An agent signed in on the PDS, by default with the app password, as the extension would be.
 * Each login takes at least 350 ms (the PDS pads logins against timing attacks): sign in once
 * per account and file, or use resumeCreationSession for a full-access agent.
 */
export async function signIn(
  pdsUrl: string,
  account: Pick<Account, 'handle' | 'password' | 'appPassword'>,
  opts: { with?: 'appPassword' | 'password' } = {},
): Promise<AtpAgent> {
  const agent = new AtpAgent({ service: pdsUrl });
  const password = opts.with === 'password' ? account.password : account.appPassword;
  await agent.login({ identifier: account.handle, password });
  return agent;
}

/**
 * A full-access agent on the session createAccount opened, without a new login. The tokens are
 * short-lived (the PDS's access token lasts minutes to hours), so this is for tests, not storage.
 */
/**
 * The account's session proxied to a chat service (`<did>#<service id>`), with @atproto/api's
 * full chat.bsky namespace: what a test does as a bsky.app user (create a group, leave it).
 */
export async function chatAsAccount(pdsUrl: string, account: Account, chatProxy: string): Promise<AtpAgent> {
  const [did, serviceId] = chatProxy.split('#') as [`did:${string}`, string];
  return (await resumeCreationSession(pdsUrl, account)).withProxy(serviceId, did) as AtpAgent;
}

export async function resumeCreationSession(pdsUrl: string, account: Account): Promise<AtpAgent> {
  const agent = new AtpAgent({ service: pdsUrl });
  await agent.resumeSession({
    did: account.did,
    handle: account.handle,
    accessJwt: account.accessJwt,
    refreshJwt: account.refreshJwt,
    active: true,
  });
  return agent;
}

/** Which field the user most likely has to fix, so focus can go straight there. */
export type SignInField = 'identifier' | 'password';

export interface SignInErrorMessage {
  text: string;
  field?: SignInField;
}

const MESSAGES: Record<string, SignInErrorMessage> = {
  InvalidCredentials: {
    text: 'Wrong handle or app password. Check both and try again.',
    field: 'password',
  },
  // The most common trap: app passwords do not include DMs unless the box was ticked when the
  // password was created, and it cannot be ticked afterwards.
  NoDmAccess: {
    text:
      'This app password cannot read direct messages. On bsky.app open Settings → Privacy and security → ' +
      'App passwords, add a new app password with “Allow access to your direct messages” ticked, and sign in with it.',
    field: 'password',
  },
  Network: {
    text: "Can't reach the server. Check your connection (or the network settings on the options page) and try again.",
  },
  HandleNotFound: {
    text: 'No account was found for this handle. Check the spelling, e.g. alice.bsky.social.',
    field: 'identifier',
  },
  HandleMismatch: {
    text: "This handle doesn't lead to a matching account (its DID document does not confirm it). Check the handle.",
    field: 'identifier',
  },
  InvalidHandle: {
    text: 'That is not a handle. Use the full form, e.g. alice.bsky.social.',
    field: 'identifier',
  },
};

export function signInErrorMessage(code: string): SignInErrorMessage {
  return MESSAGES[code] ?? { text: `Sign-in failed (${code}). Please try again.` };
}

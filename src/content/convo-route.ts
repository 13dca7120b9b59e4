import { AtmError } from '../errors';

/**
 * bsky.app's conversation ids are opaque tokens (TID-like base32 today). We accept a
 * conservative alphabet so an id can be put into a URL or a selector without escaping
 * surprises, and reject anything else before it crosses into the extension.
 */
const CONVO_ID = /^[A-Za-z0-9._~:-]{1,128}$/;

export function isConvoId(value: unknown): value is string {
  return typeof value === 'string' && CONVO_ID.test(value);
}

export function assertConvoId(value: unknown): string {
  if (!isConvoId(value)) {
    throw new AtmError('InvalidConvoId', 'not a conversation id', {
      type: typeof value,
      length: typeof value === 'string' ? value.length : undefined,
    });
  }
  return value;
}

/**
 * The conversation a bsky.app path shows, or undefined. Mirrors bsky.app's route
 * `/messages/:conversation`; `/messages` alone is the inbox and `/messages/settings` is a
 * settings screen, not a conversation.
 */
export function convoIdFromPath(pathname: string): string | undefined {
  const match = /^\/messages\/([^/]+)\/?$/.exec(pathname);
  if (!match) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(match[1]!);
  } catch {
    return undefined;
  }
  if (id === 'settings' || id === 'inbox') return undefined;
  return isConvoId(id) ? id : undefined;
}

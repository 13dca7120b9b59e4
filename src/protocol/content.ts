import { decode, encode, type LexValue } from '@atproto/lex-cbor';
import { AtmError } from '../errors';

/**
 * What travels inside MLS application messages (docs/protocol.md §7): DAG-CBOR objects typed by
 * `$type`, shaped like chat.bsky.convo messages so the panel feels native.
 */
export const TEXT_TYPE = 'org.atmessaging.content#text';

/** bsky's own limits for a chat message (chat.bsky.convo.defs#messageInput). */
export const MAX_TEXT_BYTES = 10_000;
export const MAX_TEXT_GRAPHEMES = 1_000;

export interface TextContent {
  $type: typeof TEXT_TYPE;
  /** 16 random bytes, hex: the author's message id; re-sends keep it, readers drop duplicates. */
  id: string;
  text: string;
  /** Author's clock, ms since the Unix epoch. */
  sentAt: number;
}

export type Content = TextContent;

const MESSAGE_ID = /^[0-9a-f]{32}$/;

function graphemes(text: string): number {
  const Segmenter = (Intl as { Segmenter?: typeof Intl.Segmenter }).Segmenter;
  if (!Segmenter) return [...text].length;
  let n = 0;
  for (const _ of new Segmenter(undefined, { granularity: 'grapheme' }).segment(text)) n++;
  return n;
}

export function checkText(text: string): void {
  if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES || graphemes(text) > MAX_TEXT_GRAPHEMES) {
    throw new AtmError('BadRequest', `messages are limited to ${MAX_TEXT_GRAPHEMES} characters`);
  }
  if (text.trim().length === 0) throw new AtmError('BadRequest', 'message is empty');
}

export function encodeContent(content: Content): Uint8Array {
  if (!MESSAGE_ID.test(content.id) || !Number.isSafeInteger(content.sentAt)) {
    throw new AtmError('InvalidInput', 'malformed content');
  }
  checkText(content.text);
  return encode({ $type: content.$type, id: content.id, text: content.text, sentAt: content.sentAt } as LexValue);
}

/** Strict: exactly the known fields with the right types; anything else is `InvalidEnvelope`. */
export function decodeContent(bytes: Uint8Array): Content {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch {
    throw new AtmError('InvalidEnvelope', 'content is not DAG-CBOR');
  }
  const v = value as Record<string, unknown>;
  if (
    typeof v !== 'object' ||
    v === null ||
    v.$type !== TEXT_TYPE ||
    typeof v.id !== 'string' ||
    !MESSAGE_ID.test(v.id) ||
    typeof v.text !== 'string' ||
    typeof v.sentAt !== 'number' ||
    !Number.isSafeInteger(v.sentAt) ||
    Object.keys(v).length !== 4
  ) {
    throw new AtmError('InvalidEnvelope', 'unknown or malformed content');
  }
  try {
    checkText(v.text);
  } catch {
    throw new AtmError('InvalidEnvelope', 'content text out of bounds');
  }
  return { $type: TEXT_TYPE, id: v.id, text: v.text, sentAt: v.sentAt };
}

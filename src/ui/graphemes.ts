import { MAX_TEXT_BYTES, MAX_TEXT_GRAPHEMES } from '../protocol/content';

let segmenter: Intl.Segmenter | undefined;

/** User-perceived characters, the unit of bsky's 1,000-character message limit. */
export function countGraphemes(text: string): number {
  if (typeof Intl.Segmenter !== 'function') return [...text].length;
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let n = 0;
  for (const _ of segmenter.segment(text)) n++;
  return n;
}

/**
 * Mirrors `checkText` in protocol/content.ts so the composer refuses what the background would:
 * the byte limit matters for long emoji sequences, which count as one grapheme each.
 */
export function textLimit(text: string): { graphemes: number; tooLong: boolean; empty: boolean } {
  const graphemes = countGraphemes(text);
  const bytes = new TextEncoder().encode(text).length;
  return {
    graphemes,
    tooLong: graphemes > MAX_TEXT_GRAPHEMES || bytes > MAX_TEXT_BYTES,
    empty: text.trim().length === 0,
  };
}

export { MAX_TEXT_GRAPHEMES };

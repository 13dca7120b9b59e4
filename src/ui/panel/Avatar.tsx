import { useState } from 'preact/hooks';
import type { MemberView } from '../../rpc/methods';

let segmenter: Intl.Segmenter | undefined;

function firstGrapheme(word: string): string {
  if (typeof Intl.Segmenter !== 'function') return [...word][0] ?? '';
  segmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  for (const { segment } of segmenter.segment(word)) return segment;
  return '';
}

/**
 * The avatar URL from a public profile, if it is one we load: https only. Anything else (http,
 * data:, javascript:, a relative or broken URL) shows initials instead; the value comes from the
 * chat service, not from us.
 */
export function safeAvatarUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  try {
    const url = new URL(raw);
    return url.protocol === 'https:' && url.hostname !== '' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** Up to two letters from the display name, or the handle's first; as bsky.app's placeholders. */
export function initialsOf(member: Pick<MemberView, 'displayName' | 'handle'> | undefined): string {
  const words = member?.displayName?.trim().split(/\s+/).filter(Boolean) ?? [];
  const source = words.length > 0 ? words.slice(0, 2) : member?.handle ? [member.handle] : [];
  return source.map(firstGrapheme).join('').toLocaleUpperCase() || '?';
}

interface Props {
  member: MemberView | undefined;
  /**
   * What a screen reader hears for it; omit when the name is written right beside it (the
   * picture then adds nothing, and is hidden from assistive technology).
   */
  label?: string;
  size: number;
}

/**
 * A member's profile picture, or their initials when there is none, it is not https, or it
 * fails to load. Loaded without a referrer, so the avatar host does not learn the extension's
 * page URL (and with it the conversation id).
 */
export function Avatar({ member, label, size }: Props) {
  const src = safeAvatarUrl(member?.avatar);
  const [failed, setFailed] = useState<string | undefined>();
  const style = { width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.42)}px` };
  if (src && failed !== src) {
    return (
      <img
        class="avatar"
        data-testid="avatar"
        src={src}
        alt={label ?? ''}
        {...(label ? {} : { 'aria-hidden': 'true' })}
        referrerpolicy="no-referrer"
        width={size}
        height={size}
        loading="lazy"
        decoding="async"
        style={style}
        onError={() => setFailed(src)}
      />
    );
  }
  return (
    <span
      class="avatar initials"
      data-testid="avatar"
      style={style}
      {...(label ? { role: 'img', 'aria-label': label } : { 'aria-hidden': 'true' })}
    >
      {initialsOf(member)}
    </span>
  );
}

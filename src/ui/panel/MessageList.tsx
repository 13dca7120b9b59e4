import { useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import type { ConvoView, MemberView, MessageView } from '../../rpc/methods';
import { MessageItem } from './MessageItem';

interface Props {
  convoId: string;
  messages: readonly MessageView[];
  members: readonly MemberView[];
  /** When this device joined from an invite (ConvoView.joinedAt). */
  joinedAt?: number | undefined;
  onView(view: ConvoView): void;
  onError(text: string): void;
}

const joinDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Within this distance of the bottom, new messages scroll into view; further up, the reader stays put. */
const STICK_PX = 48;

export function MessageList({ convoId, messages, members, joinedAt, onView, onError }: Props) {
  const log = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  // Oldest first by the author's clock; the sort is stable, so equal times keep the
  // background's order.
  const ordered = useMemo(() => [...messages].sort((a, b) => a.sentAt - b.sentAt), [messages]);
  const last = ordered[ordered.length - 1];

  useLayoutEffect(() => {
    const el = log.current;
    if (el && (atBottom.current || last?.own)) el.scrollTop = el.scrollHeight;
  }, [last?.id, last?.own]);

  return (
    <div
      ref={log}
      class="log"
      role="log"
      aria-live="polite"
      aria-label="Encrypted messages"
      // Focusable so keyboard users can scroll the history.
      tabIndex={0}
      data-testid="panel-log"
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
      }}
    >
      {joinedAt !== undefined && (
        // At the top of the history, where the missing messages would be.
        <p class="muted joined-notice" data-testid="panel-joined-notice">
          This device joined the encrypted conversation on{' '}
          <time dateTime={new Date(joinedAt).toISOString()}>{joinDate.format(joinedAt)}</time>. Messages sent before
          then can't be read on this device.
        </p>
      )}
      {ordered.length === 0 ? (
        <p class="muted empty">No encrypted messages yet.</p>
      ) : (
        <ol class="messages">
          {ordered.map((m) => (
            <MessageItem key={m.id} convoId={convoId} message={m} members={members} onView={onView} onError={onError} />
          ))}
        </ol>
      )}
    </div>
  );
}

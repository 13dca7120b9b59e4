import { useState } from 'preact/hooks';
import type { ConvoView, MemberView, MessageView } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';
import { Avatar } from './Avatar';
import { formatSentAt } from './format-time';
import { senderName } from './names';

interface Props {
  convoId: string;
  message: MessageView;
  members: readonly MemberView[];
  onView(view: ConvoView): void;
  onError(text: string): void;
}

const STATE_TEXT: Record<MessageView['status'], string> = {
  sending: 'Sending…',
  sent: 'Sent',
  failed: 'Not sent',
};

export function MessageItem({ convoId, message, members, onView, onError }: Props) {
  const rpc = useRpc();
  const [retrying, setRetrying] = useState(false);
  const time = formatSentAt(message.sentAt);
  const textId = `message-${message.id}`;

  async function retry() {
    if (retrying) return;
    setRetrying(true);
    try {
      onView(await rpc.call('convo.retry', { convoId, messageId: message.id }));
    } catch (error) {
      onError(`Could not retry the message (${errorCode(error)}).`);
    } finally {
      setRetrying(false);
    }
  }

  return (
    <li
      class={message.own ? 'message own' : 'message'}
      data-testid="panel-message"
      data-own={String(message.own)}
      data-status={message.status}
    >
      <div class="meta">
        {/* Beside the sender's name, which says who it is: the picture is decorative here. */}
        {!message.own && <Avatar member={members.find((m) => m.did === message.senderDid)} size={20} />}
        <span class="sender">{senderName(message, members)}</span>{' '}
        <time dateTime={new Date(message.sentAt).toISOString()} title={time.full}>
          {time.short}
        </time>
        {/* Others' messages are here because they arrived: their state says nothing new. */}
        {message.own && <span class={`state state-${message.status}`}> · {STATE_TEXT[message.status]}</span>}
      </div>
      <p class="text" id={textId} data-testid="panel-message-text">
        {message.text}
      </p>
      {message.status === 'failed' && message.own && (
        <button
          type="button"
          class="small"
          data-testid="panel-retry"
          aria-describedby={textId}
          aria-disabled={retrying}
          onClick={() => void retry()}
        >
          {retrying ? 'Retrying…' : 'Retry'}
        </button>
      )}
    </li>
  );
}

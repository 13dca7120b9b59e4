import { useState } from 'preact/hooks';
import type { ConvoView, MessageView } from '../../rpc/methods';
import { Composer } from './Composer';
import { MemberList } from './MemberList';
import { MessageList } from './MessageList';
import { SafetyBanner } from './SafetyBanner';

interface Props {
  convoId: string;
  view: ConvoView;
  me: string | undefined;
  onView(view: ConvoView): void;
  onSent(message: MessageView): void;
}

/** Members, history and composer of a conversation whose encryption is on. */
export function EncryptedChat({ convoId, view, me, onView, onSent }: Props) {
  const [actionError, setActionError] = useState<string | undefined>();
  return (
    <div class="chat">
      <SafetyBanner members={view.members} />
      <MemberList convoId={convoId} members={view.members} me={me} onError={setActionError} />
      {actionError && (
        <p role="alert" data-testid="panel-action-error">
          {actionError}
        </p>
      )}
      <MessageList
        convoId={convoId}
        messages={view.messages}
        members={view.members}
        joinedAt={view.joinedAt}
        onView={onView}
        onError={setActionError}
      />
      <Composer convoId={convoId} onSent={onSent} />
    </div>
  );
}

import { useState } from 'preact/hooks';
import type { MessageView } from '../../rpc/methods';
import { errorCode } from '../error-code';
import { MAX_TEXT_GRAPHEMES, textLimit } from '../graphemes';
import { useRpc } from '../rpc-context';

interface Props {
  convoId: string;
  onSent(message: MessageView): void;
}

const LIMIT = MAX_TEXT_GRAPHEMES.toLocaleString('en-US');

/** Enter sends, Shift+Enter breaks the line, as in bsky.app's own composer. */
export function Composer({ convoId, onSent }: Props) {
  const rpc = useRpc();
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [failure, setFailure] = useState<string | undefined>();
  const limit = textLimit(text);
  const canSend = !sending && !limit.empty && !limit.tooLong;

  async function send() {
    if (!canSend) return;
    const sent = text;
    setSending(true);
    setFailure(undefined);
    try {
      onSent(await rpc.call('convo.send', { convoId, text: sent.trim() }));
      // Only clear what was sent: anything typed meanwhile stays.
      setText((current) => (current === sent ? '' : current));
    } catch (error) {
      // The text stays in the box, so trying again is one keystroke.
      setFailure(errorCode(error));
    } finally {
      setSending(false);
    }
  }

  function onKeyDown(event: KeyboardEvent) {
    // isComposing / 229: Enter that confirms an IME candidate must not send.
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    void send();
  }

  return (
    <form
      class="composer"
      aria-busy={sending}
      onSubmit={(event) => {
        event.preventDefault();
        void send();
      }}
    >
      <label for="panel-composer" class="sr-only">
        Encrypted message
      </label>
      <textarea
        id="panel-composer"
        data-testid="panel-composer"
        rows={2}
        placeholder="Write an encrypted message"
        value={text}
        aria-invalid={limit.tooLong}
        aria-describedby="panel-composer-hint panel-composer-count"
        onInput={(event) => setText(event.currentTarget.value)}
        onKeyDown={onKeyDown}
      />
      <div class="composer-row">
        <span id="panel-composer-hint" class="hint">
          Enter to send, Shift+Enter for a new line
        </span>
        <span id="panel-composer-count" class={limit.tooLong ? 'count error' : 'count'} data-testid="panel-counter">
          <span class="sr-only">Characters used: </span>
          {limit.graphemes.toLocaleString('en-US')} / {LIMIT}
        </span>
        <button type="submit" data-testid="panel-send" aria-disabled={!canSend}>
          {sending ? 'Sending…' : 'Send'}
        </button>
      </div>
      {limit.tooLong && (
        <p role="alert" data-testid="panel-too-long">
          Too long to send: messages are limited to {LIMIT} characters.
        </p>
      )}
      {failure && (
        <p role="alert" data-testid="panel-send-error">
          The message was not sent ({failure}). Your text is still here; try again.
        </p>
      )}
    </form>
  );
}

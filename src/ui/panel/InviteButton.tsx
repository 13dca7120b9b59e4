import { useState } from 'preact/hooks';
import { errorCode } from '../error-code';
import { useRpc } from '../rpc-context';

interface Props {
  convoId: string;
  did: string;
  name: string;
  onError(text: string): void;
}

/**
 * Sends a member without the extension a plain DM about it. The button stays in place (and
 * focused) after sending, so keyboard focus is not thrown back to the top of the page.
 */
export function InviteButton({ convoId, did, name, onError }: Props) {
  const rpc = useRpc();
  const [state, setState] = useState<'idle' | 'sending' | 'sent'>('idle');

  async function invite() {
    if (state !== 'idle') return;
    setState('sending');
    try {
      await rpc.call('convo.invite', { convoId, did });
      setState('sent');
    } catch (error) {
      setState('idle');
      onError(`Could not invite ${name} (${errorCode(error)}).`);
    }
  }

  return (
    <button
      type="button"
      class="small secondary"
      data-testid={`panel-invite-${did}`}
      aria-disabled={state !== 'idle'}
      aria-label={state === 'sent' ? `Invite sent to ${name}` : `Invite ${name}`}
      onClick={() => void invite()}
    >
      {state === 'sent' ? 'Invite sent' : state === 'sending' ? 'Inviting…' : 'Invite'}
    </button>
  );
}

import { useCallback, useEffect, useState } from 'preact/hooks';
import type { ConvoProgress } from '../../rpc/wire';
import type { UiRpc } from '../rpc-context';

/**
 * The last progress the background reported for a long operation on this conversation (turning
 * encryption on for a big group). It ends with the operation: the background then pushes the
 * conversation's new status and a `convo.changed`, and the caller clears it when its own call
 * settles (a failure pushes nothing).
 */
export function useConvoProgress(rpc: UiRpc, convoId: string): [ConvoProgress | undefined, () => void] {
  const [progress, setProgress] = useState<ConvoProgress | undefined>();
  useEffect(() => {
    setProgress(undefined);
    return rpc.onEvent((event) => {
      if (event.data.convoId !== convoId) return;
      if (event.event === 'convo.progress') setProgress(event.data as ConvoProgress);
      else setProgress(undefined);
    });
  }, [rpc, convoId]);
  const clear = useCallback(() => setProgress(undefined), []);
  return [progress, clear];
}

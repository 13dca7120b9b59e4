import { useEffect, useRef } from 'preact/hooks';
import type { ConvoStatus } from '../../rpc/methods';
import type { UiRpc } from '../rpc-context';

/**
 * Marks the conversation read while someone is looking: the panel's tab is visible and the
 * panel has focus. Visibility alone is not enough, because bsky.app hides the panel's iframe
 * (display: none) without changing the frame's visibilityState.
 */
export function useMarkRead(
  rpc: UiRpc,
  convoId: string,
  unread: number,
  onStatus: (status: ConvoStatus) => void,
): void {
  const pending = useRef(false);
  useEffect(() => {
    function markIfSeen() {
      if (unread <= 0 || pending.current) return;
      if (document.visibilityState !== 'visible' || !document.hasFocus()) return;
      pending.current = true;
      rpc
        .call('convo.markRead', { convoId })
        .then(onStatus, () => {
          // Not worth an alert: the count stays and the next focus tries again.
        })
        .finally(() => {
          pending.current = false;
        });
    }
    markIfSeen();
    window.addEventListener('focus', markIfSeen);
    document.addEventListener('visibilitychange', markIfSeen);
    return () => {
      window.removeEventListener('focus', markIfSeen);
      document.removeEventListener('visibilitychange', markIfSeen);
    };
  }, [rpc, convoId, unread, onStatus]);
}

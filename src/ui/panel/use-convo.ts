import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { ConvoStatus, ConvoView, MessageView } from '../../rpc/methods';
import { errorCode } from '../error-code';
import type { UiRpc } from '../rpc-context';

export type ConvoState =
  | { kind: 'loading' }
  | { kind: 'signed-out'; status?: ConvoStatus }
  | { kind: 'ready'; view: ConvoView; me?: string }
  /** The view could not be read; the status line still works from `convo.status`. */
  | { kind: 'unavailable'; code: string; status?: ConvoStatus };

/** How long to wait before reopening a dropped port: lets a restarting worker settle. */
const RECONNECT_MS = 1_000;

export function stateStatus(state: ConvoState): ConvoStatus | undefined {
  return state.kind === 'ready' ? state.view.status : state.kind === 'loading' ? undefined : state.status;
}

/**
 * The conversation as the panel shows it, kept fresh: re-read on every `convo.changed` /
 * `convo.status` for this conversation, and after the background's port drops (events only
 * reach an open port).
 */
export function useConvo(rpc: UiRpc, convoId: string) {
  const [state, setState] = useState<ConvoState>({ kind: 'loading' });
  const running = useRef(false);
  const dirty = useRef(false);
  const alive = useRef(true);

  const read = useCallback(async (): Promise<ConvoState> => {
    const status = () => rpc.call('convo.status', { convoId }).catch(() => undefined);
    // auth.status is advisory: an older background without it still gets to answer convo.view.
    const auth = await rpc.call('auth.status', {}).catch(() => undefined);
    if (auth && !auth.signedIn) return { kind: 'signed-out', status: await status() };
    try {
      const view = await rpc.call('convo.view', { convoId });
      return { kind: 'ready', view, ...(auth?.signedIn ? { me: auth.did } : {}) };
    } catch (error) {
      const code = errorCode(error);
      if (code === 'NotSignedIn') return { kind: 'signed-out', status: await status() };
      return { kind: 'unavailable', code, status: await status() };
    }
  }, [rpc, convoId]);

  // Coalesces bursts of events into one read in flight plus at most one more, so the last
  // state shown is never older than the last event.
  const refresh = useCallback(async () => {
    if (running.current) {
      dirty.current = true;
      return;
    }
    running.current = true;
    try {
      do {
        dirty.current = false;
        const next = await read();
        if (alive.current) setState(next);
      } while (dirty.current && alive.current);
    } finally {
      running.current = false;
    }
  }, [read]);

  useEffect(() => {
    alive.current = true;
    void refresh();
    const offEvent = rpc.onEvent((event) => {
      // Progress is shown by the status bar; the view does not change until the operation ends.
      if (event.data.convoId !== convoId || event.event === 'convo.progress') return;
      const data = event.data;
      // The status event carries the new status itself: show it before the re-read answers.
      if (event.event === 'convo.status' && 'encrypted' in data) setState((s) => withStatus(s, data));
      void refresh();
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const offDisconnect = rpc.onDisconnect?.(() => {
      clearTimeout(timer);
      // A hidden page reconnects when it becomes visible again, not in the background.
      if (document.visibilityState === 'visible') timer = setTimeout(() => void refresh(), RECONNECT_MS);
    });
    const onVisible = () => {
      if (document.visibilityState === 'visible') void refresh();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      alive.current = false;
      offEvent();
      offDisconnect?.();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [rpc, convoId, refresh]);

  /** Applies an answer we already have (a send, a toggle) before the re-read arrives. */
  const setStatus = useCallback((status: ConvoStatus) => setState((s) => withStatus(s, status)), []);
  const setView = useCallback(
    (view: ConvoView) =>
      setState((s) => ({ kind: 'ready', view, ...(s.kind === 'ready' && s.me ? { me: s.me } : {}) })),
    [],
  );
  const addMessage = useCallback(
    (message: MessageView) =>
      setState((s) => {
        if (s.kind !== 'ready' || s.view.messages.some((m) => m.id === message.id)) return s;
        return { ...s, view: { ...s.view, messages: [...s.view.messages, message] } };
      }),
    [],
  );

  return { state, refresh, setStatus, setView, addMessage };
}

function withStatus(state: ConvoState, status: ConvoStatus): ConvoState {
  if (state.kind === 'ready') return { ...state, view: { ...state.view, status } };
  if (state.kind === 'loading') return state;
  return { ...state, status };
}

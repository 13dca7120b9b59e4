import { render, type ComponentChildren } from 'preact';
import { act } from 'preact/test-utils';
import { AtmError, type AtmErrorCode } from '../../../src/errors';
import type { Method, Params, Result } from '../../../src/rpc/methods';
import type { RpcEvent } from '../../../src/rpc/wire';
import { RpcContext, type UiRpc } from '../../../src/ui/rpc-context';

type Handlers = { [M in Method]?: (params: Params<M>) => Result<M> | Promise<Result<M>> };

/** A background stand-in: answers from `handlers`, records calls, and can push events. */
export function fakeRpc(handlers: Handlers) {
  const calls: Array<{ method: Method; params: unknown }> = [];
  const listeners = new Set<(event: RpcEvent) => void>();
  const rpc: UiRpc & { calls: typeof calls; handlers: Handlers; emit(event: RpcEvent): void } = {
    calls,
    handlers,
    call<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
      calls.push({ method, params });
      const handler = handlers[method] as ((p: Params<M>) => Result<M> | Promise<Result<M>>) | undefined;
      if (!handler) return Promise.reject(new AtmError('UnknownMethod', 'unknown method'));
      try {
        return Promise.resolve(handler(params));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(event) {
      for (const listener of listeners) listener(event);
    },
  };
  return rpc;
}

/** A typed error as the background sends it, including codes newer than `AtmErrorCode`. */
export function rpcError(code: string): AtmError {
  return new AtmError(code as AtmErrorCode, `request failed: ${code}`);
}

export function callsOf(rpc: ReturnType<typeof fakeRpc>, method: Method) {
  return rpc.calls.filter((c) => c.method === method).map((c) => c.params);
}

export function mount(rpc: UiRpc, ui: ComponentChildren): HTMLElement {
  const root = document.createElement('div');
  document.body.append(root);
  act(() => render(<RpcContext.Provider value={rpc}>{ui}</RpcContext.Provider>, root));
  return root;
}

export function unmountAll(): void {
  for (const el of Array.from(document.body.children)) {
    render(null, el);
    el.remove();
  }
}

/** Lets pending RPC promises settle and Preact re-render. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await act(async () => {
      await new Promise((resolve) => setTimeout(resolve, 0));
    });
  }
}

export function byTestId<T extends HTMLElement = HTMLElement>(root: ParentNode, id: string): T {
  const el = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`no element with data-testid="${id}"`);
  return el;
}

export function allByTestId(root: ParentNode, id: string): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`));
}

export async function type(field: HTMLInputElement | HTMLTextAreaElement, value: string): Promise<void> {
  await act(() => {
    field.value = value;
    field.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

export async function press(el: HTMLElement, key: string, init: KeyboardEventInit = {}): Promise<KeyboardEvent> {
  const event = new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...init });
  await act(() => {
    el.dispatchEvent(event);
  });
  await settle();
  return event;
}

export async function click(el: HTMLElement): Promise<void> {
  await act(() => el.click());
  await settle();
}

export async function submit(form: HTMLFormElement): Promise<void> {
  await act(() => {
    form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
  });
  await settle();
}

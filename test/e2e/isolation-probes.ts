/**
 * Probes for the isolation e2e test (isolation.product.test.ts). Each function is evaluated in a
 * browser context by playwright, so it must be self-contained: no imports, no named inner
 * functions (a bundler's keepNames helper would not exist there), no closures over this module.
 */

/** What a script of bsky.app's page saw while it watched (kept on `window.__atmSpy`). */
export interface PageSpyReport {
  installed: boolean;
  /** Every text, attribute value and markup the page's observers saw appear, in order. */
  seen: string[];
  /** Every `message` event delivered to the page's window, the host or the iframe element. */
  messages: string[];
  /** Shadow roots of our host element the page could observe (it is an open shadow root). */
  shadowRootsObserved: number;
}

/**
 * Installed with `page.addInitScript`, so it runs in bsky.app's main world before any page
 * script, as a hostile page script would: it records every DOM change in the document and in
 * every open shadow root it can reach, and every `message` event, for the test to search later.
 * It does nothing in frames (the panel is an extension frame; a bsky.app script runs in the top
 * document only).
 */
export function installPageSpy(): void {
  if (location.origin !== 'https://bsky.app' || window.top !== window) return;
  const w = window as unknown as { __atmSpy?: PageSpyReport };
  if (w.__atmSpy) return;
  const report: PageSpyReport = { installed: true, seen: [], messages: [], shadowRootsObserved: 0 };
  w.__atmSpy = report;
  const watched = new WeakSet<Node>();
  const record = (node: Node) => {
    if (node.nodeType === Node.TEXT_NODE) report.seen.push(node.textContent || '');
    else if (node instanceof Element) report.seen.push(node.outerHTML);
  };
  const onMessage = (event: MessageEvent) => {
    let data: string;
    try {
      data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
    } catch {
      data = String(event.data);
    }
    report.messages.push(`${event.origin} ${data}`);
  };
  let observer: MutationObserver;
  const watch = (root: Node) => {
    if (watched.has(root)) return;
    watched.add(root);
    observer.observe(root, { childList: true, subtree: true, characterData: true, attributes: true });
  };
  const reachShadows = (node: Node) => {
    if (!(node instanceof Element)) return;
    const all = [node, ...Array.from(node.querySelectorAll('*'))];
    for (const el of all) {
      if (el.shadowRoot && !watched.has(el.shadowRoot)) {
        report.shadowRootsObserved++;
        report.seen.push(el.shadowRoot.innerHTML);
        watch(el.shadowRoot);
        for (const child of Array.from(el.shadowRoot.children)) {
          // The host and the frame element: would anything be posted or dispatched at them?
          child.addEventListener('message', onMessage as EventListener, true);
        }
      }
      if (el.tagName === 'IFRAME') el.addEventListener('message', onMessage as EventListener, true);
    }
    node.addEventListener('message', onMessage as EventListener, true);
  };
  observer = new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.type === 'characterData') report.seen.push(m.target.textContent || '');
      else if (m.type === 'attributes' && m.target instanceof Element && m.attributeName) {
        report.seen.push(`${m.attributeName}=${m.target.getAttribute(m.attributeName) ?? ''}`);
      } else {
        for (const node of Array.from(m.addedNodes)) {
          record(node);
          reachShadows(node);
        }
      }
      // A shadow root is attached without a mutation of its own: look again at the target.
      reachShadows(m.target);
    }
  });
  window.addEventListener('message', onMessage, true);
  const start = () => {
    watch(document.documentElement);
    reachShadows(document.documentElement);
  };
  if (document.documentElement) start();
  else document.addEventListener('DOMContentLoaded', start);
}

export function readPageSpy(): PageSpyReport | null {
  return (window as unknown as { __atmSpy?: PageSpyReport }).__atmSpy ?? null;
}

/** Everything a page script can read of the page at once: markup, text and open shadow roots. */
export function pageEverything(): string {
  const parts = [document.documentElement.outerHTML, document.body ? document.body.innerText : ''];
  for (const el of Array.from(document.querySelectorAll('*'))) {
    if (el.shadowRoot) parts.push(el.shadowRoot.innerHTML, (el.shadowRoot as unknown as HTMLElement).textContent || '');
  }
  return parts.join('\n');
}

export interface PageReachProbe {
  /** `typeof chrome.runtime` in the page's main world. */
  runtimeType: string;
  /** What `chrome.runtime.sendMessage(extensionId, …)` and `.connect` gave, if there was one. */
  sendMessage: string;
  connect: string;
  /** The error name `iframe.contentWindow.document` threw ('no-throw' if it did not). */
  frameDocument: string;
  /** Whether the frame element's `contentDocument` was null. */
  contentDocumentNull: boolean;
}

/** From bsky.app's main world: reach the extension directly, or the panel's document. */
export async function probePageReach(extensionId: string): Promise<PageReachProbe> {
  const c = (globalThis as unknown as { chrome?: { runtime?: Record<string, unknown> } }).chrome;
  const runtime = c ? c.runtime : undefined;
  let sendMessage = 'no runtime';
  let connect = 'no runtime';
  if (runtime && typeof runtime.sendMessage === 'function') {
    sendMessage = await new Promise<string>((resolve) => {
      try {
        (runtime.sendMessage as (id: string, m: unknown, cb: (r: unknown) => void) => void)(
          extensionId,
          { rpc: 1, id: 1, method: 'convo.view', params: {} },
          (response: unknown) => {
            const err = (runtime.lastError as { message?: string } | undefined)?.message;
            resolve(err ? `error: ${err}` : `answered: ${JSON.stringify(response)}`);
          },
        );
      } catch (error) {
        resolve(`threw: ${(error as Error).message}`);
      }
    });
  }
  if (runtime && typeof runtime.connect === 'function') {
    try {
      (runtime.connect as (id: string, info: unknown) => unknown)(extensionId, { name: 'atmessaging-rpc' });
      connect = 'connected';
    } catch (error) {
      connect = `threw: ${(error as Error).message}`;
    }
  }
  const host = document.querySelector('[data-atmessaging-convo]');
  const iframe = host && host.shadowRoot ? host.shadowRoot.querySelector('iframe') : null;
  let frameDocument = 'no frame';
  if (iframe) {
    try {
      const doc = (iframe.contentWindow as Window).document;
      frameDocument = `no-throw:${doc ? 'document' : String(doc)}`;
    } catch (error) {
      frameDocument = (error as Error).name;
    }
  }
  return {
    runtimeType: typeof runtime,
    sendMessage,
    connect,
    frameDocument,
    contentDocumentNull: iframe ? iframe.contentDocument === null : false,
  };
}

/**
 * From bsky.app's main world: posts messages shaped like everything the panel might act on (our
 * RPC requests and responses, plausible command objects, strings) into the panel frame, with
 * every target origin a script could pick. Returns how many were posted.
 */
export function postCraftedMessages(args: { convoId: string; text: string; extensionOrigin: string }): number {
  const host = document.querySelector('[data-atmessaging-convo]');
  const iframe = host && host.shadowRoot ? host.shadowRoot.querySelector('iframe') : null;
  if (!iframe || !iframe.contentWindow) return 0;
  const { convoId, text } = args;
  const shapes: unknown[] = [
    { rpc: 1, id: 1, method: 'convo.send', params: { convoId, text } },
    { rpc: 1, id: 2, ok: true, result: { convoId, encrypted: false } },
    { rpc: 1, event: 'convo.changed', data: { convoId } },
    { type: 'send', convoId, text },
    { method: 'convo.setEncrypted', params: { convoId, encrypted: false, confirm: true } },
    text,
    JSON.stringify({ rpc: 1, id: 3, method: 'convo.send', params: { convoId, text } }),
  ];
  let posted = 0;
  for (const shape of shapes) {
    for (const target of ['*', args.extensionOrigin]) {
      iframe.contentWindow.postMessage(shape, target);
      posted++;
    }
  }
  return posted;
}

/** The device URIs the panel lists per member DID (evaluated in the panel frame). */
export function panelDeviceUris(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const li of Array.from(document.querySelectorAll('[data-testid^="panel-member-"]'))) {
    const did = (li.getAttribute('data-testid') || '').slice('panel-member-'.length);
    out[did] = Array.from(li.querySelectorAll('ul.devices > li')).map((d) => d.getAttribute('title') || '');
  }
  return out;
}

/** The texts of the messages the panel shows (evaluated in the panel frame). */
export function panelMessageTexts(): string[] {
  return Array.from(document.querySelectorAll('[data-testid="panel-message-text"]')).map((el) => el.textContent || '');
}

export type ContentScriptAnswer = { ok: true; result: unknown } | { ok: false; code: string };

export interface ContentScriptProbe {
  listening?: boolean;
  /** Per method: what the background answered this content-script port. */
  answers: Record<string, ContentScriptAnswer>;
  /** How often the port was found closed (the worker stopped) and opened again. */
  reopened: number;
}

export type ContentScriptProbeArgs =
  | { kind: 'listen' }
  | { kind: 'call'; methods: Array<{ method: string; params: unknown }> };

/**
 * Evaluated in the content script's isolated world (through the DevTools protocol): opens a port
 * to the background exactly as the content script does (`runtime.connect` with our port name),
 * records every event the background pushes to it, and calls methods on it.
 */
export async function contentScriptProbe(args: ContentScriptProbeArgs): Promise<ContentScriptProbe> {
  type State = {
    port: { postMessage(m: unknown): void; onMessage: { addListener(f: (m: unknown) => void): void }; onDisconnect: { addListener(f: () => void): void } } | null;
    events: string[];
    waiting: Map<number, (m: Record<string, unknown> | null) => void>;
    nextId: number;
    reopened: number;
  };
  const g = globalThis as unknown as { __atmCs?: State; chrome: { runtime: { connect(info: { name: string }): State['port'] } } };
  const state: State = g.__atmCs ?? { port: null, events: [], waiting: new Map(), nextId: 1, reopened: 0 };
  g.__atmCs = state;
  const open = () => {
    const port = g.chrome.runtime.connect({ name: 'atmessaging-rpc' })!;
    port.onMessage.addListener((m) => {
      const msg = m as Record<string, unknown>;
      if (typeof msg.event === 'string') state.events.push(JSON.stringify(msg));
      const resolve = typeof msg.id === 'number' ? state.waiting.get(msg.id) : undefined;
      if (resolve) resolve(msg);
    });
    port.onDisconnect.addListener(() => {
      if (state.port === port) state.port = null;
      for (const resolve of Array.from(state.waiting.values())) resolve(null);
    });
    state.port = port;
  };
  if (!state.port) {
    if (args.kind === 'call') state.reopened++;
    open();
  }
  if (args.kind === 'listen') return { listening: true, answers: {}, reopened: state.reopened };
  const answers: Record<string, ContentScriptAnswer> = {};
  for (const { method, params } of args.methods) {
    if (!state.port) {
      state.reopened++;
      open();
    }
    const id = state.nextId++;
    const answer = await new Promise<Record<string, unknown> | null>((resolve) => {
      state.waiting.set(id, resolve);
      setTimeout(() => resolve(null), 10_000);
      state.port!.postMessage({ rpc: 1, id, method, params });
    });
    state.waiting.delete(id);
    if (!answer) answers[method] = { ok: false, code: 'no answer' };
    else if (answer.ok === true) answers[method] = { ok: true, result: answer.result };
    else answers[method] = { ok: false, code: String((answer.error as { code?: unknown } | undefined)?.code) };
  }
  return { answers, reopened: state.reopened };
}

/** The events the content script's port heard (evaluated in the content script's world). */
export function readContentScriptSpy(): string[] {
  const g = globalThis as unknown as { __atmCs?: { events: string[] } };
  return g.__atmCs ? g.__atmCs.events : [];
}

// ---------------------------------------------------------------------------------------------
// Extension surfaces: which frames at our origin the background admits, and as what.

/** Where a frame of ours goes into bsky.app's page, as a page script (or a frame in it) would put it. */
export interface OurFrameArgs {
  /** The element's id in the page, to find it again. */
  id: string;
  src: string;
  /** Inside a frame of the page's own (a `srcdoc` frame, bsky.app's origin) rather than in the page. */
  nested: boolean;
}

/** From bsky.app's main world: frames a page of ours (the panel is web-accessible to bsky.app). */
export function frameOurPage(args: OurFrameArgs): void {
  const frame = document.createElement('iframe');
  frame.id = args.id;
  frame.style.width = '400px';
  frame.style.height = '300px';
  if (args.nested) frame.srcdoc = `<iframe style="width:380px;height:280px" src="${args.src.replace(/&/g, '&amp;')}"></iframe>`;
  else frame.src = args.src;
  document.body.append(frame);
}

/** From bsky.app's main world: removes what `frameOurPage` added. */
export function removeOurFrames(ids: string[]): void {
  for (const id of ids) document.getElementById(id)?.remove();
}

/** From bsky.app's main world: the real panel frame's URL, ticket included, read from the open shadow root. */
export function realPanelSrc(): string | null {
  const host = document.querySelector('[data-atmessaging-convo]');
  const iframe = host && host.shadowRoot ? host.shadowRoot.querySelector('iframe') : null;
  return iframe ? iframe.src : null;
}

export interface PortProbe {
  /** The background closed the port (refused it, or went away). */
  closed: boolean;
  /** Per method: what the background answered on this port. */
  answers: Record<string, ContentScriptAnswer>;
}

/**
 * Evaluated inside a frame at our extension origin (the panel, or one a page made): opens its
 * own port to the background, as the panel's RPC client does (`runtime.connect` with our port
 * name), calls each method once, and reports the answers and whether the port was closed. The
 * background classifies the port by what the browser reports for this frame.
 */
export async function extensionPortProbe(args: { methods: Array<{ method: string; params: unknown }>; timeoutMs: number }): Promise<PortProbe> {
  type Port = {
    postMessage(m: unknown): void;
    disconnect(): void;
    onMessage: { addListener(f: (m: unknown) => void): void };
    onDisconnect: { addListener(f: () => void): void };
  };
  type Runtime = { connect(info: { name: string }): Port };
  const g = globalThis as unknown as { browser?: { runtime?: Runtime }; chrome?: { runtime?: Runtime } };
  const runtime = (g.browser && g.browser.runtime) || (g.chrome && g.chrome.runtime);
  if (!runtime) throw new Error('no extension runtime in this frame');
  const port = runtime.connect({ name: 'atmessaging-rpc' });
  let closed = false;
  const waiting = new Map<number, (m: Record<string, unknown> | null) => void>();
  port.onMessage.addListener((m) => {
    const msg = m as Record<string, unknown>;
    const resolve = typeof msg.id === 'number' ? waiting.get(msg.id) : undefined;
    if (resolve) resolve(msg);
  });
  port.onDisconnect.addListener(() => {
    closed = true;
    for (const resolve of Array.from(waiting.values())) resolve(null);
  });
  const answers: Record<string, ContentScriptAnswer> = {};
  let id = 0;
  for (const { method, params } of args.methods) {
    id++;
    const answer = closed
      ? null
      : await new Promise<Record<string, unknown> | null | 'timeout'>((resolve) => {
          waiting.set(id, resolve);
          setTimeout(() => resolve('timeout'), args.timeoutMs);
          try {
            port.postMessage({ rpc: 1, id, method, params });
          } catch {
            closed = true;
            resolve(null);
          }
        });
    waiting.delete(id);
    if (answer === 'timeout') answers[method] = { ok: false, code: 'no answer' };
    else if (!answer) answers[method] = { ok: false, code: 'port closed' };
    else if (answer.ok === true) answers[method] = { ok: true, result: answer.result };
    else answers[method] = { ok: false, code: String((answer.error as { code?: unknown } | undefined)?.code) };
  }
  // A refused port is closed by the background at once; give it the time to say so.
  if (!closed) await new Promise((resolve) => setTimeout(resolve, 200));
  const result = { closed, answers };
  try {
    port.disconnect();
  } catch {
    // already closed
  }
  return result;
}

import { isConvoId } from '../../../src/content/convo-route';
import { METHODS, type Caller, type Method } from '../../../src/rpc/methods';
import { createPanelTickets, isPanelTicket } from '../../../src/rpc/panel-tickets';
import type { PortLike } from '../../../src/rpc/port';
import { originOf, type ExtensionSelf, type SenderLike } from '../../../src/rpc/sender';
import { dispatch, servePort, type RpcHandlers } from '../../../src/rpc/server';
import { RPC_PORT_NAME, type RpcResponse } from '../../../src/rpc/wire';
import { canonical } from '../lib/canonical';
import { ACCEPTED, check, fail, rejected, type FuzzTarget, type Verdict } from '../lib/harness';
import { mutateValue } from '../lib/mutate-value';
import type { Rng } from '../lib/prng';

const SELF: ExtensionSelf = { id: 'fuzzextensionid', origin: 'chrome-extension://fuzzextensionid' };

/** Valid params for every method: the samples mutations start from. */
const VALID_PARAMS: { [M in Method]: unknown } = {
  'background.info': {},
  'convo.status': { convoId: '3kabcdefghij2' },
  'convo.setEncrypted': { convoId: '3kabcdefghij2', encrypted: true },
  'auth.status': {},
  'auth.signIn': { identifier: 'alice.test', appPassword: 'aaaa-bbbb-cccc-dddd' },
  'auth.signOut': { confirm: true },
  'settings.network': {},
  'settings.setNetwork': {
    plcUrl: 'https://plc.directory',
    handleResolver: 'https://bsky.social',
    chatProxy: 'did:web:api.bsky.chat#bsky_chat',
  },
  'convo.view': { convoId: '3kabcdefghij2' },
  'convo.send': { convoId: '3kabcdefghij2', text: 'hello' },
  'convo.retry': { convoId: '3kabcdefghij2', messageId: 'f'.repeat(32) },
  'convo.invite': { convoId: '3kabcdefghij2', did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' },
  'convo.markRead': { convoId: '3kabcdefghij2' },
  'devices.list': {},
  'devices.revoke': { rkey: '3kabcdefghij2', confirm: true },
  'contact.safetyNumber': { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' },
  'contact.verify': { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', fingerprint: 'ab'.repeat(32) },
  'contact.unverify': { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' },
  'panel.ticket': {},
};

const METHOD_NAMES = Object.keys(VALID_PARAMS) as Method[];

/** This convo id makes the convo.status handler fail with an untyped error (a bug behind it). */
const THROWING_CONVO = 'handler-throws';

interface Recorder {
  handlers: RpcHandlers;
  calls: Array<{ method: Method; params: unknown; caller: Caller }>;
}

function recorder(): Recorder {
  const calls: Recorder['calls'] = [];
  const handlers = Object.fromEntries(
    METHOD_NAMES.map((method) => [
      method,
      (params: unknown, ctx: { caller: Caller }) => {
        calls.push({ method, params, caller: ctx.caller });
        if (method === 'convo.status' && (params as { convoId: string }).convoId === THROWING_CONVO) {
          throw new TypeError('a bug behind the boundary');
        }
        return { ok: method };
      },
    ]),
  ) as unknown as RpcHandlers;
  return { handlers, calls };
}

/** What a port delivers: a structured clone. Values that cannot be cloned never arrive. */
function deliverable(value: unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: structuredClone(value) };
  } catch {
    return { ok: false };
  }
}

function request(rng: Rng, favour?: Method, methods: readonly Method[] = METHOD_NAMES): { message: unknown; ops: string[] } {
  const method =
    favour && rng.chance(0.5)
      ? favour
      : rng.chance(0.9)
        ? rng.pick(methods)
        : rng.pick(['convo.delete', '__proto__', 'constructor', 'toString', '']);
  let params = VALID_PARAMS[method as Method] ?? {};
  if (method === 'convo.status' && rng.chance(0.05)) params = { convoId: THROWING_CONVO };
  const genuine = { rpc: 1, id: rng.pick([1, 7, 0, -1, 2 ** 53 - 1]), method, params };
  // Mostly the params (what the method parsers see), sometimes the envelope around them.
  const m = rng.chance(0.7)
    ? (({ value, ops }) => ({ value: { ...genuine, params: value }, ops: ops.map((o) => `params ${o}`) }))(mutateValue(rng, params, 'clone'))
    : mutateValue(rng, genuine, 'clone');
  const delivered = deliverable(m.value);
  return delivered.ok ? { message: delivered.value, ops: [`${method}`, ...m.ops] } : { message: genuine, ops: [`${method}`, 'undeliverable: sent as is'] };
}

/** The typed refusals a response may carry, and that its message is the fixed text. */
function checkErrorResponse(response: RpcResponse): Verdict {
  if (response.ok) return fail('checkErrorResponse on a success');
  const keys = Object.keys(response.error).sort().join(',');
  check(keys === 'code,message', `an error response carries more than code and message: ${keys}`);
  const expectedText = response.error.code === 'Internal' ? 'internal error in background' : `request failed: ${response.error.code}`;
  check(response.error.message === expectedText, 'an error response carries text from below the boundary');
  return rejected(response.error.code);
}

interface DispatchCase {
  caller: Caller;
  message: unknown;
  ops: string[];
}

/**
 * What a content script (beside bsky.app's page: half-trusted) or an extension page may send.
 * A content script may only ever reach convo.status, with a valid conversation id, and
 * panel.ticket, with no params; everything else is refused with a typed code, and nothing
 * throws out of dispatch.
 */
function dispatchTarget(name: string, caller: Caller, allowed: string[], methods: readonly Method[] = METHOD_NAMES): FuzzTarget<DispatchCase> {
  return {
    name,
    allowed,
    generate(rng) {
      // A content script's main method gets half the cases, or they would mostly be Forbidden.
      return { caller, ...request(rng, caller === 'content-script' ? 'convo.status' : undefined, methods) };
    },
    async run({ caller: who, message }) {
      const { handlers, calls } = recorder();
      const response = await dispatch(handlers, who, message);
      if (!response) {
        check(calls.length === 0, 'a handler ran for a request that was dropped');
        return rejected('Dropped');
      }
      check(response.id === (message as { id: unknown }).id, 'the response answers another id');
      if (!response.ok) {
        if (who === 'content-script') check(calls.every((c) => CONTENT_SCRIPT_METHODS.includes(c.method)), 'a privileged handler ran for a content script');
        return checkErrorResponse(response);
      }
      check(calls.length === 1, `a success ran ${calls.length} handlers`);
      const call = calls[0]!;
      check(call.caller === who, 'the handler saw another caller');
      check(METHODS[call.method].callers.includes(who), `${call.method} ran for a caller it does not allow`);
      // The handler got exactly what the parser makes of its own output (no extra keys, no types
      // it does not expect).
      const reparsed = METHODS[call.method].parse(call.params);
      check(canonical(reparsed) === canonical(call.params), 'the parsed params do not parse to themselves');
      if (who === 'content-script' && call.method === 'panel.ticket') {
        check(Object.keys(call.params as object).length === 0, 'a content script passed params to panel.ticket');
      } else if (who === 'content-script') {
        check(call.method === 'convo.status' && isConvoId((call.params as { convoId: unknown }).convoId), 'a content script got past convo.status');
        check(Object.keys(call.params as object).join() === 'convoId', 'a content script passed more than a convo id');
      }
      return ACCEPTED;
    },
    describe: ({ ops }) => ops.join('; ').slice(0, 400),
  };
}

/** The methods a content script has: a conversation's status, and the ticket of the panel frame it makes. */
const CONTENT_SCRIPT_METHODS: Method[] = ['convo.status', 'panel.ticket'];

export const rpcDispatch = dispatchTarget('rpc.dispatch', 'content-script', [
  'Dropped',
  'BadRequest',
  'UnknownMethod',
  'Forbidden',
  'InvalidConvoId',
  'Internal',
]);

// Every method an extension page has (all but the content script's panel.ticket).
export const rpcParse = dispatchTarget(
  'rpc.parse',
  'extension-page',
  ['Dropped', 'BadRequest', 'UnknownMethod', 'InvalidConvoId', 'Internal'],
  METHOD_NAMES.filter((m) => METHODS[m].callers.includes('extension-page')),
);

// ---------------------------------------------------------------------------------------------

/** The ticket the panel sender presents; the fuzzed background issued it to tab 5. */
const TICKET_TAB = 5;
const SENDERS: SenderLike[] = [
  {
    id: SELF.id,
    url: `${SELF.origin}/panel.html?convo=3kabcdefghij2&ticket=${'a'.repeat(32)}`,
    tab: { id: TICKET_TAB, url: 'https://bsky.app/messages/3kabcdefghij2' },
    frameId: 3,
  },
  { id: SELF.id, url: `${SELF.origin}/panel.html?convo=3kabcdefghij2`, tab: { id: TICKET_TAB, url: 'https://bsky.app/messages/3kabcdefghij2' }, frameId: 3 },
  { id: SELF.id, url: `${SELF.origin}/popup.html` },
  { id: SELF.id, url: `${SELF.origin}/options.html`, tab: { id: 2, url: `${SELF.origin}/options.html` }, frameId: 0 },
  { id: SELF.id, url: 'https://bsky.app/messages/3kabcdefghij2', tab: { id: TICKET_TAB, url: 'https://bsky.app/messages/3kabcdefghij2' }, frameId: 0 },
  { id: 'anotherextension', url: 'chrome-extension://anotherextension/page.html' },
  { id: SELF.id, url: 'https://evil.example/', tab: { url: 'https://evil.example/' } },
];

const URL_TRICKS = [
  'https://bsky.app.evil.example/',
  'https://bsky.app@evil.example/',
  'https://evil.example/https://bsky.app/',
  'http://bsky.app/',
  'https://bsky.app:443/',
  'https://BSKY.APP/messages/x',
  'chrome-extension://fuzzextensionid.evil/',
  'chrome-extension://fuzzextensionidx/',
  'moz-extension://fuzzextensionid/',
  'chrome-extension://FUZZEXTENSIONID/',
  'data:text/html,<script>',
  'blob:https://bsky.app/0000',
  'about:blank',
  'javascript:1',
  '',
];

interface PortCase {
  sender: unknown;
  messages: unknown[];
  ops: string[];
}

/** A port whose end the test drives: messages in as the browser delivers them, responses out. */
function fakePort(sender: unknown) {
  const messageListeners: Array<(m: unknown) => void> = [];
  const disconnectListeners: Array<() => void> = [];
  const posted: unknown[] = [];
  let disconnected = false;
  const port: PortLike = {
    name: RPC_PORT_NAME,
    sender: sender as SenderLike,
    postMessage: (m) => void posted.push(structuredClone(m)),
    disconnect: () => void (disconnected = true),
    onMessage: { addListener: (l) => void messageListeners.push(l) },
    onDisconnect: { addListener: (l) => void disconnectListeners.push(l) },
  };
  return { port, posted, deliver: (m: unknown) => messageListeners.forEach((l) => l(m)), isDisconnected: () => disconnected };
}

/** Who the sender may be taken for, by the rules of DESIGN.md boundary 2 (an independent reading). */
function mayBe(sender: SenderLike | undefined, ticket: string): Caller[] {
  if (!sender || sender.id !== SELF.id || typeof sender.url !== 'string') return [];
  const origin = originOf(sender.url);
  const { frameId } = sender;
  const tab = (typeof sender.tab === 'object' && sender.tab !== null ? sender.tab : {}) as { id?: unknown; url?: unknown };
  const tabId = Number.isSafeInteger(tab.id) && (tab.id as number) >= 0 ? tab.id : undefined;
  if (origin === SELF.origin) {
    // Not framed: no tab, or the tab's own document.
    if (sender.tab === undefined || frameId === 0) return ['extension-page'];
    // Framed: only the panel page inside bsky.app, presenting the ticket issued to its tab.
    const url = new URL(sender.url);
    const framed = Number.isSafeInteger(frameId) && frameId! > 0 && tabId === TICKET_TAB;
    const inBsky = typeof tab.url === 'string' && originOf(tab.url) === 'https://bsky.app';
    const presented = url.searchParams.getAll('ticket');
    return framed && inBsky && url.pathname === '/panel.html' && presented.length === 1 && presented[0] === ticket ? ['panel'] : [];
  }
  if (origin === 'https://bsky.app' && tabId !== undefined && frameId === 0) return ['content-script'];
  return [];
}

/**
 * Ports connected by anyone: a sender the browser reports (mutated: other ids, look-alike URLs,
 * missing tabs) and the messages it sends. Unknown senders are disconnected before any message
 * is read; a known one gets exactly its caller's rights.
 */
export const rpcPort: FuzzTarget<PortCase> = {
  name: 'rpc.port',
  allowed: ['Refused', 'Dropped', 'BadRequest', 'UnknownMethod', 'Forbidden', 'InvalidConvoId', 'Internal'],
  generate(rng) {
    const base = rng.pick(SENDERS);
    let sender: unknown = base;
    const ops: string[] = [];
    if (rng.chance(0.5)) {
      const trick = rng.pick(URL_TRICKS);
      sender = rng.chance(0.5) ? { ...base, url: trick } : { ...base, tab: { ...(base.tab as object | undefined), url: trick } };
      ops.push(`url trick ${trick}`);
    } else if (rng.chance(0.5)) {
      const m = mutateValue(rng, base, 'clone');
      sender = m.value;
      ops.push(...m.ops.map((o) => `sender ${o}`));
    }
    const messages = Array.from({ length: rng.range(1, 3) }, () => {
      const r = request(rng);
      ops.push(...r.ops);
      return r.message;
    });
    return { sender, messages, ops };
  },
  async run({ sender, messages }) {
    const { handlers, calls } = recorder();
    const { port, posted, deliver, isDisconnected } = fakePort(sender);
    // A background that issued one ticket, to the panel senders' tab (the samples carry it).
    const panelTickets = createPanelTickets({ now: () => 0, randomBytes: (n) => new Uint8Array(n).fill(0xaa) });
    const ticket = await panelTickets.issue(TICKET_TAB);
    check(isPanelTicket(ticket) && ticket === 'a'.repeat(32), 'the fixed ticket is not the one issued');
    const serving = servePort(port, handlers, SELF, { panelTickets });
    // Messages arrive while the port is decided on (a framed page's ticket is being checked).
    messages.forEach(deliver);
    const served = await serving;
    const expected = mayBe(sender as SenderLike, ticket);
    if (!served) {
      check(expected.length === 0, 'a legitimate sender was refused');
      check(isDisconnected(), 'a refused port was left open');
      messages.forEach(deliver);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      check(calls.length === 0 && posted.length === 0, 'a refused port was served');
      return rejected('Refused');
    }
    check(expected.length > 0, `a sender was served that the rules refuse: ${canonical(sender).slice(0, 200)}`);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    for (const call of calls) {
      check(expected.includes(call.caller), `served as ${call.caller}`);
      check(METHODS[call.method].callers.includes(call.caller), `${call.method} ran for ${call.caller}`);
    }
    const responses = posted as RpcResponse[];
    check(responses.length <= messages.length, 'more responses than requests');
    const errors = responses.filter((r) => !r.ok);
    if (errors.length > 0) return checkErrorResponse(errors[0]!);
    if (responses.length === 0) return rejected('Dropped');
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; ').slice(0, 400),
};

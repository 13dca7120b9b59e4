import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  schemas,
  type ChatBskyConvoAcceptConvo,
  type ChatBskyConvoGetConvo,
  type ChatBskyConvoGetConvoAvailability,
  type ChatBskyConvoGetConvoForMembers,
  type ChatBskyConvoGetConvoMembers,
  type ChatBskyConvoGetLog,
  type ChatBskyConvoGetMessages,
  type ChatBskyConvoLeaveConvo,
  type ChatBskyConvoListConvos,
  type ChatBskyConvoSendMessage,
  type ChatBskyConvoUpdateRead,
  type ChatBskyGroupAddMembers,
  type ChatBskyGroupCreateGroup,
  type ChatBskyGroupRemoveMembers,
} from '@atproto/api';
import { IdResolver, MemoryCache } from '@atproto/identity';
import type { LexiconDoc } from '@atproto/lexicon';
import {
  createServer,
  ForbiddenError,
  InvalidRequestError,
  XRPCError,
  type HandlerContext,
} from '@atproto/xrpc-server';
import { CHAT_SERVICE_ID, CHAT_SERVICE_TYPE, STORED_MESSAGES_PATH } from './chat-constants';
import { ChatState, ChatStateError } from './chat-state';
import { convoView, logView, memberViews, messageView } from './chat-views';
import { ProfileDirectory } from './profiles';
import { serviceAuth, type ServiceCredentials } from './service-auth';
import { registerServiceDid } from './service-did';

export interface ChatStandInOptions {
  plcUrl: string;
  /** Fixed port (e.g. for `npm start`); an ephemeral one otherwise. */
  port?: number;
}

export interface ChatStandIn {
  did: string;
  url: string;
  serviceId: `#${typeof CHAT_SERVICE_ID}`;
  /** Value for the `atproto-proxy` header sent to the PDS. */
  proxyHeader: string;
  /** Bearer token for STORED_MESSAGES_PATH, for tests running outside this process. */
  debugToken: string;
  /** Every message text the service holds (tests assert that no plaintext leaks into it). */
  storedMessages(): string[];
  close(): Promise<void>;
}

type Ctx = HandlerContext<ServiceCredentials>;
type JsonOutput = { encoding: 'application/json'; body: unknown };

/**
 * The official lexicons the stand-in serves: @atproto/api's, with the ones the extension calls
 * replaced by the upstream copies in lexicons/ (lexicons/UPSTREAM.md), which are newer. So the
 * stand-in answers what the extension's own validation expects, not an older service's shapes.
 */
function officialLexicons(): LexiconDoc[] {
  const root = join(import.meta.dirname, '../../lexicons');
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  const vendored = walk(root)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(f, 'utf8')) as LexiconDoc)
    .filter((doc) => !doc.id.startsWith('org.atmessaging.'));
  const ids = new Set(vendored.map((doc) => doc.id));
  return [...schemas.filter((doc) => !ids.has(doc.id)), ...vendored];
}

/**
 * A small stand-in for Bluesky's closed-source chat service. It is a real XRPC server built
 * from the official lexicon documents (officialLexicons), so params, input bodies AND
 * responses are validated against `chat.bsky.*` (and the `app.bsky.*` defs they reference). It
 * owns a did:plc in the local PLC whose `#bsky_chat` service points here, so the real PDS proxy
 * reaches it, and it only accepts calls carrying the service JWT the PDS signs for each call.
 */
export async function startChatStandIn(opts: ChatStandInOptions): Promise<ChatStandIn> {
  // 3 s. Tried 15 s (a 50-member group creation had failed with RecipientNotFound at a load
  // average of 9): then the extension's own chat calls time out first in the e2e suite and its
  // member checks fail closed, so the e2e flows fail even on an idle machine.
  // DID documents are cached, as Bluesky's services cache them (a JWT whose key does not verify
  // makes verifyJwt resolve again, so a rotated key is still seen): without it every request
  // resolved its caller anew, and a burst of member checks timed the resolutions out.
  const idResolver = new IdResolver({ plcUrl: opts.plcUrl, timeout: 3_000, didCache: new MemoryCache() });
  const state = new ChatState();
  const profiles = new ProfileDirectory(idResolver);
  const debugToken = randomBytes(16).toString('hex');

  const xrpc = createServer(officialLexicons(), { validateResponse: true, errorParser: toXrpcError });
  const http = createHttpServer((req, res) => {
    if (req.url?.split('?')[0] === STORED_MESSAGES_PATH) {
      serveStoredMessages(req, res, debugToken, state);
      return;
    }
    xrpc.router(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? 0, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const url = `http://localhost:${port}`;

  const close = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      http.close((err) => (err ? reject(err) : resolve()));
      // The PDS keeps proxy connections alive; without this close() waits for them to time out.
      http.closeAllConnections();
    });

  // The DID needs the URL and the auth check needs the DID, so routes are added after listening;
  // until then XRPC calls find no route (404), and nobody knows the DID to proxy to anyway.
  let did: string;
  try {
    ({ did } = await registerServiceDid(opts.plcUrl, { id: CHAT_SERVICE_ID, type: CHAT_SERVICE_TYPE, endpoint: url }));
  } catch (err) {
    await close();
    throw err;
  }

  const add = (nsid: string, handler: (ctx: Ctx, viewer: string) => Promise<unknown>): void => {
    xrpc.method(nsid, {
      auth: serviceAuth({ serviceDid: did, idResolver, nsid }),
      handler: async (ctx: Ctx): Promise<JsonOutput> => ({
        encoding: 'application/json',
        body: await handler(ctx, ctx.auth.credentials.did),
      }),
    });
  };
  registerConvoMethods(add, state, profiles);

  return {
    did,
    url,
    serviceId: `#${CHAT_SERVICE_ID}`,
    proxyHeader: `${did}#${CHAT_SERVICE_ID}`,
    debugToken,
    storedMessages: () => state.messageTexts(),
    close,
  };
}

function registerConvoMethods(
  add: (nsid: string, handler: (ctx: Ctx, viewer: string) => Promise<unknown>) => void,
  state: ChatState,
  profiles: ProfileDirectory,
): void {
  const view = (convo: Parameters<typeof convoView>[2], viewer: string) => convoView(state, profiles, convo, viewer);

  add('chat.bsky.convo.getConvo', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoGetConvo.QueryParams;
    const convo = state.convoFor(p.convoId, viewer);
    return { convo: await view(convo, viewer) } satisfies ChatBskyConvoGetConvo.OutputSchema;
  });

  // The whole membership, paged (a group's convoView lists only a few members, chat-views.ts).
  add('chat.bsky.convo.getConvoMembers', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoGetConvoMembers.QueryParams;
    const convo = state.convoFor(p.convoId, viewer);
    const page = state.convoMembers(convo, { limit: p.limit ?? 50, cursor: p.cursor });
    const out: ChatBskyConvoGetConvoMembers.OutputSchema = { members: await memberViews(profiles, convo, page.items) };
    if (page.cursor !== undefined) out.cursor = page.cursor;
    return out;
  });

  add('chat.bsky.convo.getConvoForMembers', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoGetConvoForMembers.QueryParams;
    const members = await requireResolvable(profiles, [viewer, ...p.members]);
    const convo = state.findDirect(members) ?? state.createConvo({ kind: 'direct', owner: viewer, members });
    return { convo: await view(convo, viewer) } satisfies ChatBskyConvoGetConvoForMembers.OutputSchema;
  });

  add('chat.bsky.convo.getConvoAvailability', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoGetConvoAvailability.QueryParams;
    const members = [...new Set([viewer, ...p.members])];
    const resolved = await Promise.all(members.map((did) => profiles.basic(did)));
    const out: ChatBskyConvoGetConvoAvailability.OutputSchema = { canChat: resolved.every(Boolean) };
    const existing = state.findDirect(members);
    if (existing) out.convo = await view(existing, viewer);
    return out;
  });

  add('chat.bsky.convo.listConvos', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoListConvos.QueryParams;
    const page = state.listConvos(viewer, {
      limit: p.limit ?? 50,
      cursor: p.cursor,
      status: p.status,
      kind: p.kind,
      unreadOnly: p.readState === 'unread',
    });
    const out: ChatBskyConvoListConvos.OutputSchema = {
      convos: await Promise.all(page.items.map((c) => view(c, viewer))),
    };
    if (page.cursor !== undefined) out.cursor = page.cursor;
    return out;
  });

  add('chat.bsky.convo.getMessages', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoGetMessages.QueryParams;
    const convo = state.convoFor(p.convoId, viewer);
    const page = state.messages(convo, { limit: p.limit ?? 50, cursor: p.cursor });
    const senders = [...new Set(page.items.map((m) => m.sender))];
    const out: ChatBskyConvoGetMessages.OutputSchema = {
      messages: page.items.map(messageView),
      relatedProfiles: await profiles.many(senders),
    };
    if (page.cursor !== undefined) out.cursor = page.cursor;
    return out;
  });

  add('chat.bsky.convo.sendMessage', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyConvoSendMessage.InputSchema;
    if (body.message.embed !== undefined) {
      throw new InvalidRequestError('Embeds are not supported by the chat stand-in');
    }
    const convo = state.convoFor(body.convoId, viewer);
    const message = state.sendMessage(convo, viewer, {
      text: body.message.text,
      ...(body.message.facets !== undefined && { facets: body.message.facets }),
    });
    return messageView(message) satisfies ChatBskyConvoSendMessage.OutputSchema;
  });

  add('chat.bsky.convo.getLog', async ({ params }, viewer) => {
    const p = params as ChatBskyConvoGetLog.QueryParams;
    const page = state.logsFor(viewer, { cursor: p.cursor, limit: 100 });
    const out: ChatBskyConvoGetLog.OutputSchema = { logs: page.items.map((e) => logView(state, e)) };
    if (page.cursor !== undefined) out.cursor = page.cursor;
    return out;
  });

  add('chat.bsky.convo.acceptConvo', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyConvoAcceptConvo.InputSchema;
    const rev = state.accept(state.convoFor(body.convoId, viewer), viewer);
    return (rev === undefined ? {} : { rev }) satisfies ChatBskyConvoAcceptConvo.OutputSchema;
  });

  add('chat.bsky.convo.updateRead', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyConvoUpdateRead.InputSchema;
    const convo = state.convoFor(body.convoId, viewer);
    state.markRead(convo, viewer, body.messageId);
    return { convo: await view(convo, viewer) } satisfies ChatBskyConvoUpdateRead.OutputSchema;
  });

  add('chat.bsky.convo.leaveConvo', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyConvoLeaveConvo.InputSchema;
    const convo = state.convoFor(body.convoId, viewer);
    return { convoId: convo.id, rev: state.leave(convo, viewer) } satisfies ChatBskyConvoLeaveConvo.OutputSchema;
  });

  // Group convos are made with createGroup (getConvoForMembers is direct-only per its lexicon).
  add('chat.bsky.group.createGroup', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyGroupCreateGroup.InputSchema;
    const members = await requireResolvable(profiles, [viewer, ...body.members]);
    const convo = state.createConvo({ kind: 'group', owner: viewer, members, name: body.name });
    return { convo: await view(convo, viewer) } satisfies ChatBskyGroupCreateGroup.OutputSchema;
  });

  add('chat.bsky.group.addMembers', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyGroupAddMembers.InputSchema;
    const convo = state.convoFor(body.convoId, viewer);
    const added = state.addMembers(convo, viewer, await requireResolvable(profiles, body.members));
    const addedMembers = await profiles.many(added);
    return { convo: await view(convo, viewer), addedMembers } satisfies ChatBskyGroupAddMembers.OutputSchema;
  });

  add('chat.bsky.group.removeMembers', async ({ input }, viewer) => {
    const body = input?.body as ChatBskyGroupRemoveMembers.InputSchema;
    const convo = state.convoFor(body.convoId, viewer);
    state.removeMembers(convo, viewer, body.members);
    return { convo: await view(convo, viewer) } satisfies ChatBskyGroupRemoveMembers.OutputSchema;
  });
}

/** Deduplicated member DIDs, or RecipientNotFound (a lexicon error) if one does not resolve. */
async function requireResolvable(profiles: ProfileDirectory, dids: readonly string[]): Promise<string[]> {
  const members = [...new Set(dids)];
  const resolved = await Promise.all(members.map((did) => profiles.basic(did)));
  const missing = members.filter((_, i) => resolved[i] === undefined);
  if (missing.length > 0) {
    throw new InvalidRequestError(`Could not resolve: ${missing.join(', ')}`, 'RecipientNotFound');
  }
  return members;
}

/** Maps the state's typed errors to XRPC errors; a non-member gets 403 with the lexicon's name. */
function toXrpcError(err: unknown): XRPCError {
  if (err instanceof ChatStateError) {
    switch (err.code) {
      case 'ConvoNotFound':
        return new InvalidRequestError(err.message, 'InvalidConvo');
      case 'NotMember':
        return new ForbiddenError(err.message, 'InvalidConvo');
      case 'InvalidMembers':
        return new InvalidRequestError(err.message);
      case 'InsufficientRole':
        return new InvalidRequestError(err.message, 'InsufficientRole');
      case 'MemberLimitReached':
        return new InvalidRequestError(err.message, 'MemberLimitReached');
      case 'InvalidCursor':
        return new InvalidRequestError(err.message);
    }
  }
  const xrpcError = XRPCError.fromError(err);
  // A 500 here is a bug in the stand-in or a response that failed lexicon validation: say so,
  // since xrpc-server's own logger is off in tests and the PDS turns it into a bare 502.
  if (xrpcError.statusCode >= 500) console.error('[chat stand-in]', err);
  return xrpcError;
}

function serveStoredMessages(req: IncomingMessage, res: ServerResponse, token: string, state: ChatState): void {
  if (req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'AuthRequired' }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ texts: state.messageTexts() }));
}

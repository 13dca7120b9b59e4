import type { ChatBskyActorDefs } from '@atproto/api';
import { getHandle, getPdsEndpoint } from '@atproto/common-web';
import type { IdResolver } from '@atproto/identity';
import { isValidHandle } from '@atproto/syntax';

type ProfileViewBasic = ChatBskyActorDefs.ProfileViewBasic;

/** How long a resolved profile is reused; long enough to serve one listConvos, short enough for demos. */
const TTL_MS = 2_000;
/** The lexicon caps displayName at 64 graphemes; a UTF-16 length of 64 can never exceed that. */
const MAX_DISPLAY_NAME = 64;

/**
 * Renders chat members the way Bluesky's chat service does, from public data only: the handle
 * from the DID document (PLC) and the display name from the `app.bsky.actor.profile/self` record
 * in the member's PDS. There is no AppView locally, so nothing else is available anyway.
 */
export class ProfileDirectory {
  private readonly cache = new Map<string, { at: number; view: ProfileViewBasic | undefined }>();

  constructor(private readonly idResolver: IdResolver) {}

  /** undefined when the DID does not resolve (the chat lexicon calls that RecipientNotFound). */
  async basic(did: string): Promise<ProfileViewBasic | undefined> {
    const hit = this.cache.get(did);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.view;
    const view = await this.resolve(did);
    this.cache.set(did, { at: Date.now(), view });
    return view;
  }

  async many(dids: readonly string[]): Promise<ProfileViewBasic[]> {
    const views = await Promise.all(dids.map((did) => this.basic(did)));
    // A member whose identity vanished still has to be shown as someone.
    return views.map((view, i) => view ?? { did: dids[i] as string, handle: 'handle.invalid' });
  }

  private async resolve(did: string): Promise<ProfileViewBasic | undefined> {
    const doc = await this.idResolver.did.resolve(did).catch(() => null);
    if (!doc) return undefined;
    // Bluesky shows `handle.invalid` for a handle it cannot use; a junk alsoKnownAs in someone's
    // DID document must not make every response that lists them fail lexicon validation.
    const handle = getHandle(doc);
    const view: ProfileViewBasic = { did, handle: handle && isValidHandle(handle) ? handle : 'handle.invalid' };
    const pds = getPdsEndpoint(doc);
    const displayName = pds ? await fetchDisplayName(pds, did) : undefined;
    if (displayName !== undefined) view.displayName = displayName;
    return view;
  }
}

async function fetchDisplayName(pds: string, did: string): Promise<string | undefined> {
  const url = new URL('/xrpc/com.atproto.repo.getRecord', pds);
  url.searchParams.set('repo', did);
  url.searchParams.set('collection', 'app.bsky.actor.profile');
  url.searchParams.set('rkey', 'self');
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) return undefined;
    const body: unknown = await res.json();
    const name = (body as { value?: { displayName?: unknown } }).value?.displayName;
    return typeof name === 'string' && name.length > 0 && name.length <= MAX_DISPLAY_NAME ? name : undefined;
  } catch {
    return undefined;
  }
}

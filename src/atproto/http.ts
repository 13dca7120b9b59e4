import { AtmError } from '../errors';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface FetchBytesOptions {
  fetch?: FetchLike;
  maxBytes: number;
  timeoutMs?: number;
  accept?: string;
}

/**
 * A 4xx other than timeout and rate limiting will not change by asking again (a deactivated or
 * taken-down repo, a malformed request); 5xx and no answer at all might.
 */
export function isFinalStatus(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * GET a URL and read at most `maxBytes` of its body. Remote servers are untrusted: a body over
 * the cap is cut off with `PayloadTooLarge` instead of being buffered, and a hung server is
 * abandoned after `timeoutMs`. Returns undefined on 404 so callers can tell "absent" apart.
 */
export async function fetchBytes(url: string, options: FetchBytesOptions): Promise<Uint8Array | undefined> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  let response: Response;
  try {
    response = await doFetch(url, {
      headers: options.accept ? { accept: options.accept } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
      redirect: 'error',
      credentials: 'omit',
    });
  } catch (error) {
    throw new AtmError('Network', 'request failed', { url, reason: (error as Error).name });
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new AtmError(isFinalStatus(response.status) ? 'RemoteRefused' : 'Network', `server answered ${response.status}`, {
      url,
      status: response.status,
    });
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > options.maxBytes) {
    await response.body?.cancel();
    throw new AtmError('PayloadTooLarge', 'response too large', { url, maxBytes: options.maxBytes });
  }
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > options.maxBytes) {
        await reader.cancel();
        throw new AtmError('PayloadTooLarge', 'response too large', { url, maxBytes: options.maxBytes });
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof AtmError) throw error;
    throw new AtmError('Network', 'response interrupted', { url, reason: (error as Error).name });
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

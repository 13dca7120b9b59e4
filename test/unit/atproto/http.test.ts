import { describe, expect, it } from 'vitest';
import { fetchBytes, isFinalStatus } from '../../../src/atproto/http';
import { isAtmError } from '../../../src/errors';

const answer = (status: number, body = '') => async () => new Response(body, { status });

async function code(p: Promise<unknown>) {
  try {
    await p;
    return 'ok';
  } catch (error) {
    return isAtmError(error) ? error.code : 'untyped';
  }
}

describe('fetchBytes', () => {
  it('tells final refusals (4xx) from failures worth retrying (408, 429, 5xx, no answer)', async () => {
    for (const status of [400, 401, 403, 410]) {
      expect(await code(fetchBytes('https://pds.example/x', { fetch: answer(status), maxBytes: 10 })), String(status)).toBe(
        'RemoteRefused',
      );
    }
    for (const status of [408, 429, 500, 502, 503]) {
      expect(await code(fetchBytes('https://pds.example/x', { fetch: answer(status), maxBytes: 10 })), String(status)).toBe(
        'Network',
      );
    }
    const offline = async () => {
      throw new TypeError('fetch failed');
    };
    expect(await code(fetchBytes('https://pds.example/x', { fetch: offline, maxBytes: 10 }))).toBe('Network');
    expect(isFinalStatus(undefined)).toBe(false);
  });

  it('answers undefined for 404 and caps the body', async () => {
    expect(await fetchBytes('https://pds.example/x', { fetch: answer(404), maxBytes: 10 })).toBeUndefined();
    expect(await code(fetchBytes('https://pds.example/x', { fetch: answer(200, 'x'.repeat(11)), maxBytes: 10 }))).toBe(
      'PayloadTooLarge',
    );
    expect(new TextDecoder().decode(await fetchBytes('https://pds.example/x', { fetch: answer(200, 'hello'), maxBytes: 10 }))).toBe(
      'hello',
    );
  });
});

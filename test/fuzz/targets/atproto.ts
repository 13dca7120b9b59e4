import { decodeAll, encode } from '@atproto/lex-cbor';
import { bytesEqual } from '../../../src/bytes';
import { watchRepos, type WebSocketLike } from '../../../src/atproto/firehose';
import { createIdentityResolver, isSecureEndpoint } from '../../../src/atproto/identity';
import { publicRepos } from '../../../src/atproto/repos';
import { createAuthenticationService } from '../../../src/engine/authentication-service';
import type { RecordProver } from '../../../src/engine/ports';
import { AtmError } from '../../../src/errors';
import { verifyRecordProof } from '../../../src/atproto/record-proof';
import type { IdentityResolver } from '../../../src/atproto/identity';
import { DEVICE, DEVICE_COLLECTION_NSID, EVENT, EVENT_COLLECTION_NSID, KEY_PACKAGE, parseRecord, recordJson } from '../../../src/protocol/records';
import { canonical } from '../lib/canonical';
import { mlsFixture, pdsFixture, signingKeyOf } from '../lib/fixtures';
import { ACCEPTED, check, fail, rejected, type FuzzTarget } from '../lib/harness';
import { stringifyDeep } from '../lib/json-text';
import { fromBase64, mutateBytes, mutateOrKeep, toBase64 } from '../lib/mutate-bytes';
import { mutateValue } from '../lib/mutate-value';
import type { Rng } from '../lib/prng';

interface ValueCase {
  value: unknown;
  ops: string[];
}

/** The `$bytes` fields of a lexicon JSON record, mutated as bytes (lengths at the lexicon's limits). */
function mutateBytesField(rng: Rng, record: Record<string, unknown>): ValueCase | undefined {
  const fields = Object.keys(record).filter((k) => typeof (record[k] as { $bytes?: unknown })?.$bytes === 'string');
  if (fields.length === 0) return undefined;
  const field = rng.pick(fields);
  const bytes = fromBase64((record[field] as { $bytes: string }).$bytes);
  const mutated = mutateBytes(rng, bytes);
  // Lexicon JSON carries unpadded base64 (what the PDS serves).
  return {
    value: { ...record, [field]: { $bytes: toBase64(mutated.bytes).replace(/=+$/, '') } },
    ops: mutated.ops.map((op) => `${field}: ${op}`),
  };
}

function recordTarget<T>(
  name: string,
  schema: Parameters<typeof parseRecord<T>>[0],
  samples: () => unknown[],
): FuzzTarget<ValueCase> {
  return {
    name,
    allowed: ['InvalidRecord'],
    generate(rng) {
      const sample = rng.pick(samples()) as Record<string, unknown>;
      if (rng.chance(0.3)) {
        const viaBytes = mutateBytesField(rng, sample);
        if (viaBytes) return viaBytes;
      }
      return mutateValue(rng, sample, 'json');
    },
    async run({ value }) {
      const parsed = parseRecord(schema, value, `at://fuzz/${name}`);
      // Accepted: what we read must be what we would write, and read back the same.
      const again = parseRecord(schema, recordJson(schema, parsed));
      check(canonical(again) === canonical(parsed), 'an accepted record does not round-trip through recordJson');
      return ACCEPTED;
    },
    describe: ({ ops }) => ops.join('; '),
  };
}

export const eventRecords = recordTarget('records.event', EVENT, () => {
  const m = mlsFixture().events;
  return [pdsFixture().records.event, m.application, m.update, m.invite];
});

export const deviceRecords = recordTarget('records.device', DEVICE, () => [pdsFixture().records.device]);

export const keyPackageRecords = recordTarget('records.keyPackage', KEY_PACKAGE, () => [pdsFixture().records.keyPackage]);

interface PageCase {
  body: Uint8Array;
  afterRkey: string | undefined;
  limit: number;
  ops: string[];
}

/**
 * A listRecords answer from a PDS (untrusted) through publicRepos.listRecordsAfter: the page
 * parser must refuse what is not a page and never hand back records out of order, outside the
 * repo and collection asked for, or more than asked.
 */
export const listRecordsPages: FuzzTarget<PageCase> = {
  name: 'repos.listRecords',
  allowed: ['InvalidRecord'],
  generate(rng) {
    const raw = pdsFixture().listRecordsPage;
    const afterRkey = rng.pick([undefined, '3kfpdsev22222', '3kfpdsev22224', 'zzzzzzzzzzzzz']);
    const limit = rng.pick([1, 2, 5, 100]);
    if (rng.chance(0.4)) {
      const m = mutateBytes(rng, raw);
      return { body: m.bytes, afterRkey, limit, ops: m.ops };
    }
    const page = JSON.parse(new TextDecoder().decode(raw)) as unknown;
    const m = mutateValue(rng, page, 'json');
    return { body: new TextEncoder().encode(stringifyDeep(m.value)), afterRkey, limit, ops: m.ops };
  },
  async run({ body, afterRkey, limit }) {
    const did = pdsFixture().did;
    const identity: IdentityResolver = {
      resolveDid: async () => ({ did, pds: 'https://pds.fuzz.invalid', signingKey: signingKeyOf(pdsFixture()) }),
    };
    const repos = publicRepos({
      identity,
      fetch: async () => new Response(body as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'content-type': 'application/json' } }),
    });
    const page = await repos.listRecordsAfter(did, EVENT_COLLECTION_NSID, afterRkey, limit);
    check(page.records.length <= limit, 'more records than the limit');
    let last = afterRkey;
    for (const r of page.records) {
      check(r.uri === `at://${did}/${EVENT_COLLECTION_NSID}/${r.rkey}`, `record outside the repo or collection: ${r.uri}`);
      check(last === undefined || r.rkey > last, 'records not strictly ascending after the cursor');
      last = r.rkey;
    }
    check(page.cursor === undefined || (page.records.length === limit && page.cursor === last), 'cursor not the last rkey of a full page');
    return ACCEPTED;
  },
  describe: ({ ops, afterRkey, limit }) => `after=${afterRkey} limit=${limit} ${ops.join('; ')}`,
};

interface CarCase {
  proof: 'device' | 'event' | 'absent';
  car: Uint8Array;
  /** Sometimes the proof is asked about another key than it was made for. */
  rkey: string;
  ops: string[];
}

/**
 * getRecord CARs from the real PDS (fixtures/pds.json), mutated. An altered proof must be
 * refused (ProofInvalid); an accepted one must say exactly what the genuine proof says. In
 * particular no altered proof may turn into "the record is absent", which the Authentication
 * Service reads as a deleted (revoked) device.
 */
export const carProofs: FuzzTarget<CarCase> = {
  name: 'car.proof',
  allowed: ['ProofInvalid'],
  generate(rng) {
    const proofs = pdsFixture().proofs;
    const proof = rng.pick(['device', 'event', 'absent'] as const);
    const others = Object.values(proofs).map((p) => p.car);
    const m = mutateOrKeep(rng, proofs[proof].car, others);
    return { proof, car: m.bytes, rkey: proofs[proof].rkey, ops: m.ops };
  },
  async run({ proof, car, rkey }) {
    const fixture = pdsFixture();
    const { collection, car: genuine } = fixture.proofs[proof];
    const args = { did: fixture.did, collection, rkey, signingKey: signingKeyOf(fixture) };
    const expected = await verifyRecordProof({ ...args, car: genuine }).catch((error: unknown) =>
      fail(`the genuine ${proof} proof does not verify: ${String(error)}`),
    );
    const result = await verifyRecordProof({ ...args, car });
    check(canonical(result) === canonical(expected), `an altered ${proof} proof verified as ${result ? `record ${result.cid}` : 'absent'}`);
    return ACCEPTED;
  },
  describe: ({ proof, ops }) => `${proof}: ${ops.join('; ')}`,
};


// ---------------------------------------------------------------------------------------------

interface DocumentCase {
  body: Uint8Array;
  ops: string[];
}

/**
 * DID documents (from the PLC directory or a did:web host): the root of trust for a DID's
 * signing key and PDS. A document is refused, or yields the key and an https (loopback http) PDS
 * of the very DID asked about.
 */
export const didDocuments: FuzzTarget<DocumentCase> = {
  name: 'identity.didDocument',
  allowed: ['InvalidDidDocument', 'DidNotFound', 'PayloadTooLarge'],
  generate(rng) {
    const raw = pdsFixture().didDocument;
    if (rng.chance(0.3)) {
      const m = mutateBytes(rng, raw);
      return { body: m.bytes, ops: m.ops };
    }
    const m = mutateValue(rng, JSON.parse(new TextDecoder().decode(raw)) as unknown, 'json');
    return { body: new TextEncoder().encode(stringifyDeep(m.value)), ops: m.ops };
  },
  async run({ body }) {
    const did = pdsFixture().did;
    const resolver = createIdentityResolver({
      plcUrl: 'https://plc.fuzz.invalid',
      fetch: async () => new Response(body as Uint8Array<ArrayBuffer>, { status: 200 }),
    });
    const resolved = await resolver.resolveDid(did);
    check(resolved.did === did, 'resolved another DID');
    check(isSecureEndpoint(resolved.pds), `an insecure PDS endpoint was accepted: ${resolved.pds}`);
    check(['p256', 'secp256k1'].includes(resolved.signingKey.type) && resolved.signingKey.publicKeyBytes.length === 33, `not a compressed atproto signing key: ${resolved.signingKey.type} ${resolved.signingKey.publicKeyBytes.length} bytes, prefix ${resolved.signingKey.publicKeyBytes[0]}`);
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; ').slice(0, 400),
};

interface FirehoseCase {
  frames: unknown[];
  ops: string[];
}

/** A WebSocket that the test drives: whatever the fuzzer sends arrives as a message. */
class ScriptedSocket implements WebSocketLike {
  static last: ScriptedSocket | undefined;
  binaryType = 'blob';
  readonly listeners = new Map<string, Array<(event: unknown) => void>>();
  constructor(readonly url: string) {
    ScriptedSocket.last = this;
  }
  addEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener as (event: unknown) => void]);
  }
  close(): void {}
  emit(type: string, event: unknown): void {
    for (const l of this.listeners.get(type) ?? []) l(event);
  }
}

/** The repos the PDS fixture's frames name, and one that is not watched. */
const WATCHED = () => new Set([pdsFixture().did]);

/**
 * Frames of a PDS's subscribeRepos stream (real ones, altered; or CBOR made up): only ever a
 * wake-up for a watched repo, or a typed error; nothing thrown into the socket's event loop.
 */
export const firehoseFrames: FuzzTarget<FirehoseCase> = {
  name: 'firehose',
  allowed: ['Ignored', 'Network', 'PayloadTooLarge'],
  generate(rng) {
    const real = pdsFixture().firehoseFrames;
    const ops: string[] = [];
    const frames = Array.from({ length: rng.range(1, 3) }, () => {
      const kind = rng.weighted([
        [5, 'bytes'],
        [4, 'values'],
        [1, 'other'],
      ] as const);
      if (kind === 'bytes') {
        const m = mutateBytes(rng, rng.pick(real), real);
        ops.push(...m.ops);
        return m.bytes;
      }
      if (kind === 'values') {
        // Header and body decoded, mutated as values, encoded again.
        const [header, body] = [...decodeAll(rng.pick(real))] as [unknown, unknown];
        const which = rng.chance(0.5);
        const m = mutateValue(rng, which ? header : body, 'json');
        ops.push(...m.ops.map((o) => `${which ? 'header' : 'body'} ${o}`));
        try {
          return concatBytes(encode((which ? m.value : header) as never), encode((which ? body : m.value) as never));
        } catch {
          ops.push('(not encodable: sent raw)');
          return rng.pick(real);
        }
      }
      const other = rng.pick(['text frame', 'empty', 'huge'] as const);
      ops.push(other);
      return other === 'text frame' ? 'hello' : other === 'empty' ? new ArrayBuffer(0) : new Uint8Array(4 * 1024 * 1024);
    });
    return { frames, ops };
  },
  async run({ frames }) {
    const changes: string[] = [];
    const errors: unknown[] = [];
    watchRepos({
      serviceUrl: 'https://pds.fuzz.invalid',
      dids: WATCHED(),
      collection: EVENT_COLLECTION_NSID,
      alsoCollections: ['org.atmessaging.device', 'org.atmessaging.keyPackage'],
      onChange: (did) => changes.push(did),
      onError: (error) => errors.push(error),
      WebSocketImpl: ScriptedSocket,
    });
    const socket = ScriptedSocket.last!;
    socket.emit('open', {});
    for (const data of frames) socket.emit('message', { data });
    check(changes.every((did) => WATCHED().has(did)), 'a wake-up for a repo nobody watches');
    for (const e of errors) check(e instanceof AtmError, 'an untyped error was reported');
    if (changes.length > 0) return ACCEPTED;
    return rejected(errors.length > 0 ? (errors[0] as AtmError).code : 'Ignored');
  },
  describe: ({ ops }) => ops.join('; ').slice(0, 400),
};

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------------------------------------

interface AsCase {
  identity: string;
  key: Uint8Array;
  record: unknown;
  ops: string[];
}

/**
 * The Authentication Service over proven device records: a credential identity (mutated) and a
 * device record (mutated, as the proof delivers it). A leaf is trusted only when the identity
 * is the canonical URI of that record and the record's signatureKey is the leaf's.
 */
export const authenticationService: FuzzTarget<AsCase> = {
  name: 'as.verify',
  allowed: ['InvalidCredential', 'UnknownDevice', 'KeyMismatch', 'InvalidRecord'],
  generate(rng) {
    const alice = mlsFixture().devices.alice;
    const record = pdsFixture().records.device;
    const ops: string[] = [];
    let identity = alice.uri;
    let key = alice.signature.publicKey;
    let value: unknown = record;
    const what = rng.pick(['identity', 'record', 'key', 'record'] as const);
    if (what === 'identity') {
      const m = mutateValue(rng, { identity }, 'json');
      identity = (m.value as { identity?: unknown })?.identity as string;
      ops.push(...m.ops.map((o) => `identity ${o}`));
    } else if (what === 'key') {
      const m = mutateBytes(rng, key);
      key = m.bytes;
      ops.push(...m.ops.map((o) => `key ${o}`));
    } else {
      const m = mutateValue(rng, record, 'json');
      value = m.value;
      ops.push(...m.ops.map((o) => `record ${o}`));
    }
    return { identity, key, record: value, ops };
  },
  async run({ identity, key, record }) {
    const alice = mlsFixture().devices.alice;
    const prover: RecordProver = {
      proveRecord: async (did, collection, rkey) =>
        did === alice.did && collection === DEVICE_COLLECTION_NSID && rkey === alice.rkey
          ? { did, collection, rkey, cid: 'bafyreifuzz', json: record }
          : undefined,
    };
    const as = createAuthenticationService({ prover, clock: { now: () => mlsFixture().now } });
    const verified = await as.verify(identity, key);
    check(verified.uri === alice.uri && identity === alice.uri, 'trusted an identity that is not the canonical device URI');
    check(bytesEqual(verified.record.signatureKey, key) && bytesEqual(key, alice.signature.publicKey), 'trusted a key that is not the record\'s');
    return ACCEPTED;
  },
  describe: ({ ops }) => ops.join('; ').slice(0, 400),
};

import { publicRepos } from '../../../src/atproto/repos';
import { verifyRecordProof } from '../../../src/atproto/record-proof';
import type { IdentityResolver } from '../../../src/atproto/identity';
import { DEVICE, EVENT, EVENT_COLLECTION_NSID, KEY_PACKAGE, parseRecord, recordJson } from '../../../src/protocol/records';
import { canonical } from '../lib/canonical';
import { mlsFixture, pdsFixture, signingKeyOf } from '../lib/fixtures';
import { ACCEPTED, check, fail, type FuzzTarget } from '../lib/harness';
import { stringifyDeep } from '../lib/json-text';
import { fromBase64, mutateBytes, toBase64 } from '../lib/mutate-bytes';
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
    const m = mutateBytes(rng, proofs[proof].car, others);
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


import * as CAR from '@atcute/car';
import * as CBOR from '@atcute/cbor';
import * as CID from '@atcute/cid';
import { MemoryBlockStore, NodeStore, verifyExclusion } from '@atcute/mst';
import { verifyRecord } from '@atcute/repo';
import { P256PublicKey, Secp256k1PublicKey, type FoundPublicKey, type PublicKey } from '@atcute/crypto';
import { AtmError } from '../errors';
import { fetchBytes, type FetchLike } from './http';
import type { IdentityResolver } from './identity';
import type { ProvenRecord, RecordProver } from '../engine/ports';


// A getRecord proof is one commit, one MST path and one record: a few KiB. Anything far larger
// is not a proof we want to parse.
const MAX_PROOF_BYTES = 512 * 1024;

async function publicKeyFor(found: FoundPublicKey): Promise<PublicKey> {
  return found.type === 'p256'
    ? P256PublicKey.importRaw(found.publicKeyBytes)
    : Secp256k1PublicKey.importRaw(found.publicKeyBytes);
}

/**
 * Verifies a `com.atproto.sync.getRecord` CAR: every block read matches its CID, the commit is
 * the DID's and is signed by `signingKey`, and the MST path leads to `collection/rkey`.
 * Returns undefined when the verified tree does not contain the record (deleted or never made);
 * throws `ProofInvalid` for anything that does not verify.
 */
export async function verifyRecordProof(args: {
  did: string;
  collection: string;
  rkey: string;
  signingKey: FoundPublicKey;
  car: Uint8Array;
}): Promise<ProvenRecord | undefined> {
  let verified: { cid: string; record: unknown };
  try {
    verified = await verifyRecord({
      did: args.did as `did:plc:${string}`,
      collection: args.collection,
      rkey: args.rkey,
      publicKey: await publicKeyFor(args.signingKey),
      carBytes: args.car,
    });
  } catch (error) {
    const reason = (error as Error).message;
    // @atcute/repo (pinned) says this only after the CIDs, commit DID and signature were checked
    // (see the proof tests). It says it too when a block on the path is missing from the CAR,
    // which proves nothing: the record is absent only if the signed tree's path shows it.
    if (reason === 'could not find record in car') {
      if (await provesAbsence(args.car, args.collection, args.rkey)) return undefined;
      throw new AtmError('ProofInvalid', 'record proof neither holds the record nor proves it absent', { did: args.did });
    }
    throw new AtmError('ProofInvalid', 'record proof does not verify', { did: args.did, reason });
  }
  return {
    did: args.did,
    collection: args.collection,
    rkey: args.rkey,
    cid: verified.cid,
    // atcute's decoded values serialise to lexicon JSON ($bytes / $link).
    json: JSON.parse(JSON.stringify(verified.record)),
  };
}

/** Blocks of a CAR, each checked against its CID when read. */
class VerifyingBlockStore extends MemoryBlockStore {
  override async get(cid: string): Promise<Uint8Array<ArrayBuffer> | null> {
    const bytes = await super.get(cid);
    if (bytes === null) return null;
    const actual = CID.toString(await CID.create(CID.fromString(cid).codec as 0x55 | 0x71, bytes));
    if (actual !== cid) throw new Error('block does not match its CID');
    return bytes;
  }
}

/**
 * An exclusion proof (found by fuzzing: a CAR with a block on the path removed or renamed read as
 * "the record is absent", i.e. a deleted device). Called once verifyRecord has checked the
 * commit: its `data` is the signed MST root, and every node down the key's path must be in the
 * CAR and match its CID for the absence to be proven.
 */
async function provesAbsence(car: Uint8Array, collection: string, rkey: string): Promise<boolean> {
  try {
    const reader = CAR.fromUint8Array(car);
    const store = new VerifyingBlockStore();
    for (const entry of reader) await store.put(CID.toString(entry.cid), entry.bytes as Uint8Array<ArrayBuffer>);
    const commitBytes = await store.get(reader.header.data.roots[0]!.$link);
    const commit = commitBytes && (CBOR.decode(commitBytes) as { data?: unknown });
    const data = (commit?.data as { $link?: unknown } | undefined)?.$link;
    if (typeof data !== 'string') return false;
    await verifyExclusion(new NodeStore(store), data, `${collection}/${rkey}`);
    return true;
  } catch {
    // A missing or altered block on the path, the key present after all, or a malformed node.
    return false;
  }
}

/** Fetches the proof from the DID's own PDS (found in its DID document) and verifies it. */
export function createRecordProver(options: {
  identity: IdentityResolver;
  fetch?: FetchLike;
  timeoutMs?: number;
}): RecordProver {
  return {
    async proveRecord(did, collection, rkey) {
      // The key that checks the commit signature comes from a document fetched for this proof,
      // never from the resolver's cache (see createIdentityResolver): a key rotation counts at once.
      const id = await options.identity.resolveDid(did, { fresh: true });
      const url = new URL('/xrpc/com.atproto.sync.getRecord', id.pds);
      url.searchParams.set('did', did);
      url.searchParams.set('collection', collection);
      url.searchParams.set('rkey', rkey);
      const car = await fetchBytes(url.toString(), {
        fetch: options.fetch,
        maxBytes: MAX_PROOF_BYTES,
        timeoutMs: options.timeoutMs,
        accept: 'application/vnd.ipld.car',
      });
      // A bare 404 proves nothing (anyone on the path could say it): only a signed tree without
      // the record counts as absence (undefined), which is what revocation acts on.
      if (!car) throw new AtmError('RemoteRefused', 'not found, and no proof of absence', { did, collection, rkey });
      return verifyRecordProof({ did, collection, rkey, signingKey: id.signingKey, car });
    },
  };
}

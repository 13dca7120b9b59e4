import { createHash } from 'node:crypto';
import { isValidRecordKey, isValidTid } from '@atproto/syntax';
import { AtmError } from '../../../src/errors';
import type { OwnRepo, PublicRepos, RepoRecord } from '../../../src/engine/ports';

/**
 * An in-memory repo standing in for the user's PDS, as both the authenticated writer (`OwnRepo`)
 * and the public reader (`PublicRepos`). Records are stored as JSON (what goes over XRPC), keyed
 * by collection and rkey. Writes can be made to fail once with a typed Network error, either
 * before they reach the repo or after (the write lands, the answer is lost).
 */
export interface RepoWrite {
  op: 'put' | 'delete';
  collection: string;
  rkey: string;
  /** False when the write never reached the repo. */
  landed: boolean;
}

/** One uploadBlob call; `landed`: false when the bytes never reached the repo. */
export interface BlobUpload {
  cid: string;
  size: number;
  landed: boolean;
}

interface Fault {
  op: 'put' | 'delete' | 'upload';
  /** 1-based, counted from when the fault was armed. */
  onCall: number;
  landed: boolean;
  seen: number;
}

export class MemoryRepo implements OwnRepo, PublicRepos {
  private readonly records = new Map<string, { cid: string; json: unknown }>();
  /** Every write call in order, failed ones included. */
  readonly writes: RepoWrite[] = [];
  /** The write that the armed fault made fail. */
  failed: RepoWrite | undefined;
  private fault: Fault | undefined;
  private readonly blobs = new Map<string, Uint8Array>();
  /** Every uploadBlob call in order, failed ones included. */
  readonly uploads: BlobUpload[] = [];

  constructor(readonly did: string) {}

  /** The `onCall`-th `op` call from now throws AtmError('Network'); `landed`: after the write took effect. */
  failOnce(op: 'put' | 'delete' | 'upload', onCall: number, options: { landed?: boolean } = {}): void {
    this.fault = { op, onCall, landed: options.landed === true, seen: 0 };
    this.failed = undefined;
  }

  async putRecord(collection: string, rkey: string, record: unknown): Promise<{ uri: string; cid: string }> {
    if (!isValidRecordKey(rkey)) throw new Error(`putRecord: invalid record key ${JSON.stringify(rkey)}`);
    const json = JSON.parse(JSON.stringify(record)) as unknown;
    return this.write({ op: 'put', collection, rkey }, () => {
      const cid = cidOf(json);
      this.records.set(key(collection, rkey), { cid, json });
      return { uri: this.uri(collection, rkey), cid };
    });
  }

  async deleteRecord(collection: string, rkey: string): Promise<void> {
    return this.write({ op: 'delete', collection, rkey }, () => {
      this.records.delete(key(collection, rkey));
    });
  }

  /** Blobs are content-addressed: the same bytes always get the same CID, as on a PDS. */
  async uploadBlob(bytes: Uint8Array): Promise<unknown> {
    const copy = bytes.slice();
    const cid = rawCidOf(copy);
    const fault = this.fault;
    let fails = false;
    let landed = true;
    if (fault?.op === 'upload' && ++fault.seen === fault.onCall) {
      this.fault = undefined;
      fails = true;
      landed = fault.landed;
    }
    if (landed) this.blobs.set(cid, copy);
    this.uploads.push({ cid, size: copy.length, landed });
    if (fails) throw new AtmError('Network', 'uploadBlob: connection reset', { size: copy.length });
    return { $type: 'blob', ref: { $link: cid }, mimeType: 'application/octet-stream', size: copy.length };
  }

  /** Test side: the bytes of an uploaded blob. */
  blob(cid: string): Uint8Array | undefined {
    return this.blobs.get(cid);
  }

  async listRecords(did: string, collection: string, options: { max?: number } = {}): Promise<RepoRecord[]> {
    if (did !== this.did) return [];
    const prefix = `${collection}/`;
    const found = [...this.records.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, { cid, json }]) => {
        const rkey = k.slice(prefix.length);
        return { uri: this.uri(collection, rkey), cid, rkey, value: JSON.parse(JSON.stringify(json)) as unknown };
      })
      // listRecords answers newest first (rkeys are TIDs, which sort by time).
      .sort((a, b) => (a.rkey < b.rkey ? 1 : a.rkey > b.rkey ? -1 : 0));
    return found.slice(0, options.max ?? found.length);
  }

  async listRecordsAfter(
    did: string,
    collection: string,
    afterRkey: string | undefined,
    limit: number,
  ): Promise<{ records: RepoRecord[]; cursor?: string }> {
    const ascending = (await this.listRecords(did, collection)).reverse();
    const records = ascending.filter((r) => afterRkey === undefined || r.rkey > afterRkey).slice(0, limit);
    return records.length === limit ? { records, cursor: records[records.length - 1]!.rkey } : { records };
  }

  async getBlob(_did: string, cid: string): Promise<Uint8Array> {
    const bytes = this.blobs.get(cid);
    if (!bytes) throw new AtmError('Network', 'blob not found', { cid });
    return bytes.slice();
  }

  /** Test side: a record written by someone else (another device, another client), not logged. */
  seed(collection: string, rkey: string, json: unknown): void {
    const copy = JSON.parse(JSON.stringify(json)) as unknown;
    this.records.set(key(collection, rkey), { cid: cidOf(copy), json: copy });
  }

  /** Test side: a record vanishing without a write of ours (deleted by another client). */
  drop(collection: string, rkey: string): void {
    this.records.delete(key(collection, rkey));
  }

  get(collection: string, rkey: string): { cid: string; json: unknown } | undefined {
    return this.records.get(key(collection, rkey));
  }

  size(collection: string): number {
    return [...this.records.keys()].filter((k) => k.startsWith(`${collection}/`)).length;
  }

  private uri(collection: string, rkey: string): string {
    return `at://${this.did}/${collection}/${rkey}`;
  }

  private write<T>(call: Omit<RepoWrite, 'landed'>, effect: () => T): T {
    const fault = this.fault;
    if (fault?.op === call.op && ++fault.seen === fault.onCall) {
      this.fault = undefined;
      const write = { ...call, landed: fault.landed };
      this.writes.push(write);
      this.failed = write;
      if (fault.landed) effect();
      throw new AtmError('Network', `${call.op}Record: connection reset`, { rkey: call.rkey });
    }
    const result = effect();
    this.writes.push({ ...call, landed: true });
    return result;
  }
}

function key(collection: string, rkey: string): string {
  return `${collection}/${rkey}`;
}

function cidOf(json: unknown): string {
  return `bafyrei${createHash('sha256').update(JSON.stringify(json)).digest('hex').slice(0, 40)}`;
}

/** The CID a PDS gives a blob: CIDv1, raw codec (0x55), SHA-256, base32 (multibase 'b'). */
function rawCidOf(bytes: Uint8Array): string {
  const cid = Buffer.concat([Buffer.from([0x01, 0x55, 0x12, 0x20]), createHash('sha256').update(bytes).digest()]);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = 'b';
  let buffer = 0;
  let bits = 0;
  for (const byte of cid) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

const BASE32_SORTABLE = '234567abcdefghijklmnopqrstuvwxyz';

/**
 * Deterministic TIDs: `prefix` (first character in [2-7a-j]) followed by a counter in base32-sortable
 * digits, 13 characters in all. Every TID handed out is kept in `issued`.
 */
export function tidSequence(prefix = '3lc'): { next(): string; issued: string[] } {
  const issued: string[] = [];
  let n = 0;
  return {
    issued,
    next() {
      let x = n++;
      let digits = '';
      for (let i = prefix.length; i < 13; i++) {
        digits = BASE32_SORTABLE[x % 32] + digits;
        x = Math.floor(x / 32);
      }
      const tid = prefix + digits;
      if (x !== 0 || !isValidTid(tid)) throw new Error(`tidSequence produced an invalid TID ${tid}`);
      issued.push(tid);
      return tid;
    },
  };
}

import { decodeGroupState as tsDecode, encodeGroupState as tsEncode } from 'ts-mls';
import {
  addMembers,
  createGroup,
  createSuite,
  decodeGroupState,
  deviceUri,
  encodeGroupState,
  encryptApplicationMessage,
  generateKeyPackage,
  generateSignatureKeyPair,
  selfUpdate,
  type GroupState,
  type MlsContext,
} from '../../src/mls';
import { repeat, type Sample } from '../lib/measure';
import type { Row } from '../lib/table';

function name(i: number): string {
  return i.toString(32).replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]!).replace(/[k-v]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 8)).padStart(6, 'a');
}

/** A creator's state in an N-member group, after two self-updates (so two past epochs are retained). */
async function groupOf(ctx: MlsContext, n: number): Promise<GroupState> {
  const packages = [];
  for (let i = 0; i < n; i++) {
    const id = name(i);
    const identity = deviceUri({ did: `did:plc:${id.padEnd(24, 'x')}`, rkey: `3k${id}`.padEnd(13, 'a') });
    packages.push(await generateKeyPackage(ctx, { identity, signatureKeyPair: await generateSignatureKeyPair(ctx.suite) }));
  }
  let state = await createGroup(ctx, { keyPackage: packages[0]!.keyPackage, privateKeyPackage: packages[0]!.privateKeyPackage });
  if (n > 1) state = (await addMembers(ctx, state, packages.slice(1).map((p) => p.keyPackage))).newState;
  for (let i = 0; i < 2; i++) state = (await selfUpdate(ctx, state)).newState;
  return state;
}

const kb = (bytes: number): Sample => ({ median: bytes / 1024, min: bytes / 1024, max: bytes / 1024, runs: 1 });

/**
 * What the engine does to a group's state around every message (decode from IndexedDB, encrypt,
 * encode back), with our state codec (src/mls/stateCodec.ts: trees in a table, reused) against
 * ts-mls's own codec; and how many bytes a group's state takes.
 */
export async function stateRows(sizes: number[], runs: number): Promise<Row[]> {
  const ctx: MlsContext = { suite: await createSuite(), auth: async () => true, clock: { now: () => Date.now() } };
  const rows: Row[] = [];
  const text = new TextEncoder().encode('hello');
  for (const n of sizes) {
    const start = await groupOf(ctx, n);
    let ours = encodeGroupState(start);
    const oursSample = await repeat(runs, async () => {
      const sent = await encryptApplicationMessage(ctx, decodeGroupState(ctx, ours), text);
      ours = encodeGroupState(sent.newState);
    });
    let theirs = tsEncode(start);
    const theirsSample = await repeat(runs, async () => {
      const decoded = { ...tsDecode(theirs, 0)![0], clientConfig: start.clientConfig };
      const sent = await encryptApplicationMessage(ctx, decoded, text);
      theirs = tsEncode(sent.newState);
    });
    rows.push({
      section: `state (Node), N=${n}`,
      what: 'decode state, encrypt one message, encode state',
      ours: oursSample,
      unit: 'ms',
      reference: { name: "same with ts-mls's state codec", value: theirsSample },
    });
    rows.push({
      section: `state (Node), N=${n}`,
      what: 'group state at rest (IndexedDB), 2 past epochs kept',
      ours: kb(ours.length),
      unit: 'KB',
      reference: { name: "ts-mls's codec", value: kb(theirs.length) },
    });
  }
  return rows;
}

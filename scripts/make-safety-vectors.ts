// Regenerates docs/test-vectors/safety-number-v1.json (run: npx tsx scripts/make-safety-vectors.ts).
// Everything here is deterministic (Ed25519 keys from fixed seeds), so running it again must
// reproduce the file byte for byte; test/unit/protocol/safety-number.test.ts checks the file.
import { writeFileSync } from 'node:fs';
import { sha512 } from '@noble/hashes/sha2.js';
import {
  deviceKeySet,
  fingerprint,
  fingerprintDigits,
  safetyNumber,
  FINGERPRINT_ITERATIONS,
  type DeviceKey,
} from '../src/protocol/safety-number';
import { deviceUri } from '../src/protocol/device-uri';
import { deviceFromSeeds, hex, VECTOR_SEEDS } from '../test/unit/protocol/vector-device';

const seed = (first: number) => Uint8Array.from({ length: 32 }, (_, i) => (first + i) & 0xff);

async function device(did: string, rkey: string, signatureSeed: Uint8Array<ArrayBuffer>) {
  const keys = await deviceFromSeeds({ ...VECTOR_SEEDS, did, rkey, signatureSeed });
  return {
    rkey,
    signatureSeed: hex(signatureSeed),
    signatureKey: keys.signaturePublicKey,
    uri: deviceUri({ did, rkey }),
  };
}

type VectorDevice = Awaited<ReturnType<typeof device>>;

/** The DID's fingerprint with what an implementer needs to find a mistake: key set, K and H_0. */
function person(did: string, devices: VectorDevice[]) {
  const keys: DeviceKey[] = devices.map((d) => ({ uri: d.uri, signatureKey: d.signatureKey }));
  const keySet = deviceKeySet(did, keys);
  const k = sha512(keySet);
  const didBytes = new TextEncoder().encode(did);
  const h0 = sha512(
    new Uint8Array([
      ...new TextEncoder().encode('atmessaging/v1 safety number'),
      didBytes.length >> 8,
      didBytes.length & 0xff,
      ...didBytes,
      ...k,
    ]),
  );
  const fp = fingerprint(did, keys);
  return {
    fp,
    json: {
      did,
      // As given to fingerprint(); for alice not in URI order, which the key set uses.
      devices: devices.map((d) => ({ uri: d.uri, signatureSeed: d.signatureSeed, signatureKey: hex(d.signatureKey) })),
      keySet: hex(keySet),
      keySetHash: hex(k),
      h0: hex(h0),
      fingerprint: hex(fp),
      digits: fingerprintDigits(fp),
    },
  };
}

const ALICE = VECTOR_SEEDS.did; // did:plc:vectorsaaaaaaaaaaaaaaaaa, the device of protocol-v1.json
const BOB = 'did:plc:vectorsbbbbbbbbbbbbbbbbb';

const aliceDevices = [
  await device(ALICE, VECTOR_SEEDS.rkey, VECTOR_SEEDS.signatureSeed), // 3lbvectorzzzz
  await device(ALICE, '3lbvectoraaaa', seed(0x20)),
];
const bobPhone = await device(BOB, '3lbvectorbbbb', seed(0x40));
const alice = person(ALICE, aliceDevices);
const bob = person(BOB, [bobPhone]);
// The same device record with another key: what a replaced or forged record looks like.
const bobRekeyed = person(BOB, [await device(BOB, '3lbvectorbbbb', seed(0x60))]);
// bob adds a second device.
const bobTwo = person(BOB, [bobPhone, await device(BOB, '3lbvectorcccc', seed(0x80))]);
const bobNone = person(BOB, []);

const pair = (a: Uint8Array, b: Uint8Array) => safetyNumber(a, b);

const vectors = {
  description: 'atmessaging safety numbers, version 1 (docs/protocol.md §9)',
  iterations: FINGERPRINT_ITERATIONS,
  fingerprints: {
    alice: alice.json,
    bob: bob.json,
    bobRekeyed: bobRekeyed.json,
    bobTwoDevices: bobTwo.json,
    bobNoDevices: bobNone.json,
  },
  safetyNumbers: [
    { between: ['alice', 'bob'], ...pair(alice.fp, bob.fp) },
    { between: ['alice', 'bobRekeyed'], ...pair(alice.fp, bobRekeyed.fp) },
    { between: ['alice', 'bobTwoDevices'], ...pair(alice.fp, bobTwo.fp) },
  ],
};
writeFileSync(
  new URL('../docs/test-vectors/safety-number-v1.json', import.meta.url),
  `${JSON.stringify(vectors, null, 2)}\n`,
);
console.log('wrote docs/test-vectors/safety-number-v1.json');

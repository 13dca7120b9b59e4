// Regenerates docs/test-vectors/protocol-v1.json (run: npx tsx scripts/make-test-vectors.ts).
// The device is derived from fixed seeds; the KeyPackage contains fresh HPKE randomness, so its
// bytes are fixed once here and test/unit/protocol/test-vectors.test.ts checks every property
// that an implementation must agree on rather than regenerating them.
import { writeFileSync } from 'node:fs';
import { cborEncode, cidForLex, type LexValue } from '@atproto/lex-cbor';
import { createSuite, generateKeyPackage, deviceUri } from '../src/mls';
import { DEVICE, KEY_PACKAGE, recordJson } from '../src/protocol/records';
import { hex, deviceFromSeeds, VECTOR_SEEDS } from '../test/unit/protocol/vector-device';

const suite = await createSuite();
const device = await deviceFromSeeds(VECTOR_SEEDS);
const uri = deviceUri({ did: VECTOR_SEEDS.did, rkey: VECTOR_SEEDS.rkey });
const deviceRecord = DEVICE.$build({
  signatureKey: device.signaturePublicKey,
  inviteKey: device.invitePublicKey,
  cipherSuites: [1],
  createdAt: VECTOR_SEEDS.createdAt as never,
});
const notBefore = Date.parse('2026-11-25T00:00:00Z');
const notAfter = Date.parse('2036-11-25T00:00:00Z');
const kp = await generateKeyPackage(
  { suite, clock: { now: () => notBefore } },
  {
    identity: uri,
    signatureKeyPair: { publicKey: device.signaturePublicKey, signKey: device.signaturePkcs8 },
    lifetime: { notBefore, notAfter },
  },
);
const kpRecord = KEY_PACKAGE.$build({
  keyPackage: kp.encoded,
  device: VECTOR_SEEDS.rkey,
  cipherSuite: 1,
  createdAt: VECTOR_SEEDS.createdAt as never,
  expiresAt: new Date(notAfter).toISOString() as never,
  lastResort: false,
});

const vectors = {
  description: 'atmessaging protocol v1 test vectors (docs/protocol.md §Test vectors)',
  device: {
    did: VECTOR_SEEDS.did,
    rkey: VECTOR_SEEDS.rkey,
    credentialIdentity: uri,
    signatureSeed: hex(VECTOR_SEEDS.signatureSeed),
    signaturePublicKey: hex(device.signaturePublicKey),
    inviteSeed: hex(VECTOR_SEEDS.inviteSeed),
    invitePublicKey: hex(device.invitePublicKey),
    record: recordJson(DEVICE, deviceRecord),
    recordCbor: hex(cborEncode(deviceRecord as unknown as LexValue)),
    recordCid: (await cidForLex(deviceRecord as unknown as LexValue)).toString(),
  },
  keyPackage: {
    mlsMessage: hex(kp.encoded),
    keyPackageRef: hex(kp.reference),
    notBefore: new Date(notBefore).toISOString(),
    notAfter: new Date(notAfter).toISOString(),
    record: recordJson(KEY_PACKAGE, kpRecord),
  },
};
writeFileSync(new URL('../docs/test-vectors/protocol-v1.json', import.meta.url), `${JSON.stringify(vectors, null, 2)}\n`);
console.log('wrote docs/test-vectors/protocol-v1.json');

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cborEncode, cidForLex, type LexValue } from '@atproto/lex-cbor';
import {
  createSuite,
  credentialIdentity,
  decodeKeyPackageMessage,
  deviceUri,
  isLastResort,
  keyPackageLifetime,
  keyPackageReference,
  validateKeyPackage,
} from '../../../src/mls';
import { DEVICE, KEY_PACKAGE, parseRecord, recordJson } from '../../../src/protocol/records';
import { deviceFromSeeds, hex, unhex, VECTOR_SEEDS } from './vector-device';

// docs/test-vectors/protocol-v1.json is normative (docs/protocol.md §Test vectors): an
// implementation must reproduce the device values exactly and accept the KeyPackage as described.
const vectors = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../../docs/test-vectors/protocol-v1.json'), 'utf8'),
);

describe('protocol v1 test vectors', () => {
  it('derive the device keys and credential identity from the seeds', async () => {
    expect(hex(VECTOR_SEEDS.signatureSeed)).toBe(vectors.device.signatureSeed);
    expect(hex(VECTOR_SEEDS.inviteSeed)).toBe(vectors.device.inviteSeed);
    const device = await deviceFromSeeds(VECTOR_SEEDS);
    expect(hex(device.signaturePublicKey)).toBe(vectors.device.signaturePublicKey);
    expect(hex(device.invitePublicKey)).toBe(vectors.device.invitePublicKey);
    expect(deviceUri({ did: vectors.device.did, rkey: vectors.device.rkey })).toBe(vectors.device.credentialIdentity);
  });

  it('encode the device record as lexicon JSON, DAG-CBOR and CID', async () => {
    const record = parseRecord(DEVICE, vectors.device.record);
    expect(hex(record.signatureKey)).toBe(vectors.device.signaturePublicKey);
    expect(hex(record.inviteKey)).toBe(vectors.device.invitePublicKey);
    expect(recordJson(DEVICE, record)).toEqual(vectors.device.record);
    expect(hex(cborEncode(record as unknown as LexValue))).toBe(vectors.device.recordCbor);
    expect((await cidForLex(record as unknown as LexValue)).toString()).toBe(vectors.device.recordCid);
  });

  it('accept the KeyPackage: decodes, names the device, is signed by its key, has the lifetime', async () => {
    const suite = await createSuite();
    const bytes = unhex(vectors.keyPackage.mlsMessage);
    const kp = decodeKeyPackageMessage(bytes);
    expect(credentialIdentity(kp.leafNode.credential)).toBe(vectors.device.credentialIdentity);
    expect(hex(kp.leafNode.signaturePublicKey)).toBe(vectors.device.signaturePublicKey);
    expect(keyPackageLifetime(kp)).toEqual({
      notBefore: Date.parse(vectors.keyPackage.notBefore),
      notAfter: Date.parse(vectors.keyPackage.notAfter),
    });
    expect(isLastResort(kp)).toBe(false);
    expect(hex(await keyPackageReference(suite, kp))).toBe(vectors.keyPackage.keyPackageRef);
    const asked: string[] = [];
    const identity = await validateKeyPackage(
      {
        suite,
        clock: { now: () => Date.parse('2027-01-01T00:00:00Z') },
        auth: async (id, key) => {
          asked.push(id);
          return id === vectors.device.credentialIdentity && hex(key) === vectors.device.signaturePublicKey;
        },
      },
      kp,
    );
    expect(identity).toBe(vectors.device.credentialIdentity);
    expect(asked).toEqual([vectors.device.credentialIdentity]);
  });

  it('carry the KeyPackage bytes unchanged in its record', () => {
    const record = parseRecord(KEY_PACKAGE, vectors.keyPackage.record);
    expect(hex(record.keyPackage)).toBe(vectors.keyPackage.mlsMessage);
    expect(record.device).toBe(vectors.device.rkey);
    expect(record.expiresAt).toBe(vectors.keyPackage.notAfter);
    expect(recordJson(KEY_PACKAGE, record)).toEqual(vectors.keyPackage.record);
  });

  it('reject the KeyPackage when one byte of its signature changes', async () => {
    const suite = await createSuite();
    const bytes = unhex(vectors.keyPackage.mlsMessage);
    bytes[bytes.length - 5]! ^= 0x01; // inside the trailing KeyPackage signature
    const kp = decodeKeyPackageMessage(bytes);
    await expect(
      validateKeyPackage({ suite, clock: { now: () => Date.parse('2027-01-01T00:00:00Z') }, auth: async () => true }, kp),
    ).rejects.toMatchObject({ code: 'MlsRejected' });
  });
});

import { describe, expect, it } from 'vitest';
import { DEVICE, EVENT, KEY_PACKAGE, parseRecord, recordJson } from '../../../src/protocol/records';
import { isAtmError } from '../../../src/errors';

const b64 = (bytes: number[]) => ({ $bytes: Buffer.from(bytes).toString('base64').replace(/=+$/, '') });

const deviceJson = {
  $type: 'org.atmessaging.device',
  signatureKey: b64(Array(32).fill(7)),
  inviteKey: b64(Array(32).fill(9)),
  cipherSuites: [1],
  createdAt: '2026-11-25T12:00:00.000Z',
};

function rejected(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('record parsing', () => {
  it('turns valid JSON records into typed values with bytes', () => {
    const device = parseRecord(DEVICE, deviceJson);
    expect(device.signatureKey).toEqual(new Uint8Array(32).fill(7));
    expect(device.cipherSuites).toEqual([1]);
  });

  it('round-trips through the JSON written to the PDS', () => {
    const device = parseRecord(DEVICE, deviceJson);
    expect(recordJson(DEVICE, device)).toEqual(deviceJson);
  });

  it.each([
    ['wrong $type', { ...deviceJson, $type: 'org.atmessaging.keyPackage' }],
    ['missing $type', { ...deviceJson, $type: undefined }],
    ['short key', { ...deviceJson, signatureKey: b64([1, 2, 3]) }],
    ['key as string', { ...deviceJson, signatureKey: 'AAAA' }],
    ['no suites', { ...deviceJson, cipherSuites: [] }],
    ['suite out of range', { ...deviceJson, cipherSuites: [70000] }],
    ['bad date', { ...deviceJson, createdAt: 'yesterday' }],
    ['not an object', 'device'],
    ['null', null],
  ])('rejects a device record with %s as InvalidRecord', (_what, json) => {
    expect(isAtmError(rejected(() => parseRecord(DEVICE, json)), 'InvalidRecord')).toBe(true);
  });

  it('enforces the key package and event shapes', () => {
    const kp = {
      $type: 'org.atmessaging.keyPackage',
      keyPackage: b64([0, 1, 0, 5]),
      device: '3lbdevice22aa',
      cipherSuite: 1,
      createdAt: '2026-11-25T12:00:00.000Z',
      expiresAt: '2026-12-25T12:00:00.000Z',
      lastResort: false,
    };
    expect(parseRecord(KEY_PACKAGE, kp).lastResort).toBe(false);
    expect(isAtmError(rejected(() => parseRecord(KEY_PACKAGE, { ...kp, lastResort: 'no' })), 'InvalidRecord')).toBe(true);
    expect(isAtmError(rejected(() => parseRecord(KEY_PACKAGE, { ...kp, device: 'a/b' })), 'InvalidRecord')).toBe(true);

    const event = { $type: 'org.atmessaging.event', tag: b64(Array(16).fill(1)), ciphertext: b64([1, 2, 3]) };
    expect(parseRecord(EVENT, event).tag).toHaveLength(16);
    expect(isAtmError(rejected(() => parseRecord(EVENT, { ...event, tag: b64(Array(15).fill(1)) })), 'InvalidRecord')).toBe(true);
  });

  it('refuses to serialize an invalid record for writing', () => {
    const device = parseRecord(DEVICE, deviceJson);
    expect(isAtmError(rejected(() => recordJson(DEVICE, { ...device, cipherSuites: [] })), 'InvalidRecord')).toBe(true);
  });
});

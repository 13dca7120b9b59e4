import { describe, expect, it } from 'vitest';
import { deviceUri, parseDeviceUri } from '../../../src/protocol/device-uri';
import { isAtmError } from '../../../src/errors';

const did = 'did:plc:abcdefghijklmnopqrstuvwx';
const rkey = '3lbxyzabcde22';

describe('device URIs', () => {
  it('round-trips the canonical form, from text and from UTF-8 bytes', () => {
    const uri = deviceUri({ did, rkey });
    expect(uri).toBe(`at://${did}/org.atmessaging.device/${rkey}`);
    expect(parseDeviceUri(uri)).toEqual({ did, rkey });
    expect(parseDeviceUri(new TextEncoder().encode(uri))).toEqual({ did, rkey });
    expect(parseDeviceUri('at://did:web:localhost%3A2583/org.atmessaging.device/3lbxyzabcde22')).toEqual({
      did: 'did:web:localhost%3A2583',
      rkey,
    });
  });

  it.each([
    `at://${did}/org.atmessaging.keyPackage/${rkey}`,
    `at://${did}/org.atmessaging.device/${rkey}/extra`,
    `at://${did}/org.atmessaging.device/not-a-tid`,
    `at://alice.test/org.atmessaging.device/${rkey}`,
    `https://${did}/org.atmessaging.device/${rkey}`,
    ` at://${did}/org.atmessaging.device/${rkey}`,
    `at://did:plc:ABCDEFGHIJKLMNOPQRSTUVWX/org.atmessaging.device/${rkey}`,
    '',
  ])('refuses %j', (identity) => {
    let caught: unknown;
    try {
      parseDeviceUri(identity);
    } catch (error) {
      caught = error;
    }
    expect(isAtmError(caught, 'InvalidCredential')).toBe(true);
  });

  it('refuses identities that are not UTF-8', () => {
    let caught: unknown;
    try {
      parseDeviceUri(new Uint8Array([0xff, 0xfe, 0x00]));
    } catch (error) {
      caught = error;
    }
    expect(isAtmError(caught, 'InvalidCredential')).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { credentialIdentity, deviceCredential, deviceUri, parseDeviceUri } from '../../../src/mls';
import { rejection } from './helpers';

describe('device credentials', () => {
  const uri = 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/org.atmessaging.device/3kabc2defghij';

  it('build and parse the device record AT-URI', () => {
    expect(deviceUri({ did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', rkey: '3kabc2defghij' })).toBe(uri);
    expect(parseDeviceUri(uri)).toEqual({ did: 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', rkey: '3kabc2defghij' });
    expect(parseDeviceUri('at://did:web:example.com/org.atmessaging.device/3kabc2defghij')).toEqual({
      did: 'did:web:example.com',
      rkey: '3kabc2defghij',
    });
    const credential = deviceCredential(uri);
    expect(credential.credentialType).toBe('basic');
    expect(new TextDecoder().decode(credential.identity)).toBe(uri);
    expect(credentialIdentity(credential)).toBe(uri);
  });

  it('refuse anything that is not a device record AT-URI', async () => {
    for (const bad of [
      'at://did:plc:abc/app.bsky.feed.post/3kabc',
      'at://did:plc:abc/org.atmessaging.device',
      'at://did:plc:abc/org.atmessaging.device/3k/extra',
      'at://alice.bsky.social/org.atmessaging.device/3k',
      'at://did:plc:abc/org.atmessaging.device/..',
      'at://did:web:example.com/org.atmessaging.device/self', // rkeys are TIDs
      'at://did:plc:abc/org.atmessaging.device/a b',
      'https://did:plc:abc/org.atmessaging.device/3k',
      `${uri}?x=1`,
      '',
    ]) {
      expect(parseDeviceUri(bad), bad).toBeUndefined();
      expect((await rejection(() => deviceCredential(bad))).code, bad).toBe('InvalidInput');
    }
    expect((await rejection(() => deviceUri({ did: 'plc:abc', rkey: 'x' }))).code).toBe('InvalidInput');
  });

  it('read only basic credentials holding valid UTF-8 device URIs', () => {
    const utf8 = new TextEncoder().encode(uri);
    expect(credentialIdentity({ credentialType: 'x509', identity: utf8 })).toBeUndefined();
    expect(credentialIdentity({ credentialType: 'basic', identity: Uint8Array.of(0x61, 0xff, 0x62) })).toBeUndefined();
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8]);
    expect(credentialIdentity({ credentialType: 'basic', identity: withBom })).toBeUndefined();
    expect(credentialIdentity({ credentialType: 'basic', identity: utf8 })).toBe(uri);
  });
});

import { describe, expect, it } from 'vitest';
import { classifySender } from '../../../src/rpc/sender';

const self = { id: 'ext-id', origin: 'chrome-extension://ext-id' };

describe('classifySender', () => {
  it('treats pages of our own origin as extension pages, even when framed in a tab', () => {
    expect(classifySender({ id: 'ext-id', url: 'chrome-extension://ext-id/popup.html' }, self)).toBe(
      'extension-page',
    );
    expect(
      classifySender(
        {
          id: 'ext-id',
          url: 'chrome-extension://ext-id/panel.html?convo=abc',
          tab: { url: 'https://bsky.app/messages/abc' },
          frameId: 3,
        },
        self,
      ),
    ).toBe('extension-page');
    expect(
      classifySender({ id: 'ext-id', url: 'chrome-extension://ext-id/options.html', tab: { url: 'chrome-extension://ext-id/options.html' } }, self),
    ).toBe('extension-page');
  });

  it('refuses our panel framed by any other site (or a tab whose URL it cannot see)', () => {
    for (const tab of [{ url: 'https://evil.example/' }, { url: 'https://bsky.app.evil.example/' }, {}, null, 'https://bsky.app/', { url: 7 }, { url: ['https://bsky.app/'] }]) {
      expect(
        classifySender({ id: 'ext-id', url: 'chrome-extension://ext-id/panel.html?convo=abc', tab, frameId: 2 }, self),
      ).toBeUndefined();
    }
  });

  it('treats our script in a bsky.app tab as a content script', () => {
    expect(
      classifySender({ id: 'ext-id', url: 'https://bsky.app/messages/abc', tab: {}, frameId: 0 }, self),
    ).toBe('content-script');
  });

  it('refuses other extensions, other sites, missing urls and tab-less web senders', () => {
    expect(classifySender({ id: 'other', url: 'chrome-extension://ext-id/popup.html' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'https://evil.example/', tab: {} }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'https://bsky.app.evil.example/', tab: {} }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'https://bsky.app/' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'not a url' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'data:text/html,hi', tab: {} }, self)).toBeUndefined();
    expect(classifySender(undefined, self)).toBeUndefined();
    // Only a string is a URL (new URL would read an array by its text).
    expect(classifySender({ id: 'ext-id', url: ['chrome-extension://ext-id/popup.html'] } as never, self)).toBeUndefined();
  });

  it('compares origins exactly (no prefix tricks)', () => {
    expect(
      classifySender({ id: 'ext-id', url: 'chrome-extension://ext-id-evil/panel.html' }, self),
    ).toBeUndefined();
  });
});

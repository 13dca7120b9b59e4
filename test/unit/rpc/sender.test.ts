import { describe, expect, it } from 'vitest';
import { classifySender } from '../../../src/rpc/sender';
import { contentSender, optionsSender, PANEL_FRAME, panelSender, popupSender, self, TAB, TICKET } from './senders';

describe('classifySender', () => {
  it('treats pages of ours that nothing frames as extension pages: no tab, or the tab\'s own document', () => {
    expect(classifySender(popupSender, self)).toEqual({ kind: 'extension-page' });
    expect(classifySender(optionsSender, self)).toEqual({ kind: 'extension-page' });
    // Frame 0 is the tab's own document, whatever the tab's URL says (it may lag a navigation).
    expect(classifySender({ ...optionsSender, tab: { id: 3 } }, self)).toEqual({ kind: 'extension-page' });
    // Even the panel page, opened as a tab of its own: nothing frames it.
    expect(classifySender({ ...panelSender(), frameId: 0 }, self)).toEqual({ kind: 'extension-page' });
  });

  it('sends our panel framed in a bsky.app tab on to its ticket check, with the tab and frame the browser reported', () => {
    expect(classifySender(panelSender(), self)).toEqual({ kind: 'framed-page', tabId: TAB, frameId: PANEL_FRAME, ticket: TICKET });
    // Never an extension page: a framed page gets nothing without its ticket admitted.
    expect(classifySender(panelSender(), self)).not.toEqual({ kind: 'extension-page' });
  });

  it('refuses a framed page of ours without a well-formed ticket, or that is not the panel', () => {
    const framed = panelSender();
    const urls = [
      'chrome-extension://ext-id/panel.html?convo=c1',
      'chrome-extension://ext-id/panel.html?convo=c1&ticket=',
      `chrome-extension://ext-id/panel.html?convo=c1&ticket=${TICKET.toUpperCase()}`,
      `chrome-extension://ext-id/panel.html?convo=c1&ticket=${TICKET}0`,
      `chrome-extension://ext-id/panel.html?convo=c1&ticket=${TICKET.slice(1)}`,
      `chrome-extension://ext-id/panel.html?convo=c1&ticket=${TICKET}&ticket=${TICKET}`,
      // Only the query is read: a fragment is not where the content script puts it.
      `chrome-extension://ext-id/panel.html?convo=c1#ticket=${TICKET}`,
      `chrome-extension://ext-id/options.html?ticket=${TICKET}`,
      `chrome-extension://ext-id/popup.html?ticket=${TICKET}`,
    ];
    for (const url of urls) expect(classifySender({ ...framed, url }, self), url).toBeUndefined();
  });

  it('refuses a framed page of ours whose report lacks a tab id or a frame id', () => {
    const framed = panelSender();
    const broken = [
      { ...framed, frameId: undefined },
      { ...framed, frameId: -1 },
      { ...framed, frameId: 1.5 },
      { ...framed, frameId: '12' as unknown as number },
      { ...framed, tab: { url: 'https://bsky.app/messages/c1' } },
      { ...framed, tab: { id: -1, url: 'https://bsky.app/messages/c1' } },
      { ...framed, tab: { id: '7', url: 'https://bsky.app/messages/c1' } },
    ];
    for (const sender of broken) expect(classifySender(sender, self), JSON.stringify(sender)).toBeUndefined();
  });

  it('refuses our panel framed in any other site (or a tab whose URL it cannot see)', () => {
    for (const tab of [
      { id: TAB, url: 'https://evil.example/' },
      { id: TAB, url: 'https://bsky.app.evil.example/' },
      { id: TAB, url: 'chrome-extension://ext-id/options.html' },
      { id: TAB },
      {},
      null,
      'https://bsky.app/',
      { id: TAB, url: 7 },
      { id: TAB, url: ['https://bsky.app/'] },
    ]) {
      expect(classifySender({ ...panelSender(), tab }, self), JSON.stringify(tab)).toBeUndefined();
    }
  });

  it("treats our script in a bsky.app tab's top frame as a content script, with its tab", () => {
    expect(classifySender(contentSender, self)).toEqual({ kind: 'content-script', tabId: TAB });
  });

  it('refuses a bsky.app sender in a nested frame, or without a tab id (our content script runs in the top frame)', () => {
    expect(classifySender({ ...contentSender, frameId: 4 }, self)).toBeUndefined();
    expect(classifySender({ ...contentSender, frameId: undefined }, self)).toBeUndefined();
    expect(classifySender({ ...contentSender, tab: {} }, self)).toBeUndefined();
    expect(classifySender({ ...contentSender, tab: null }, self)).toBeUndefined();
  });

  it('refuses other extensions, other sites, missing urls and tab-less web senders', () => {
    expect(classifySender({ id: 'other', url: 'chrome-extension://ext-id/popup.html' }, self)).toBeUndefined();
    expect(classifySender({ ...panelSender(), id: 'other' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'https://evil.example/', tab: { id: TAB }, frameId: 0 }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'https://bsky.app.evil.example/', tab: { id: TAB }, frameId: 0 }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'https://bsky.app/' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'not a url' }, self)).toBeUndefined();
    expect(classifySender({ id: 'ext-id', url: 'data:text/html,hi', tab: { id: TAB }, frameId: 0 }, self)).toBeUndefined();
    expect(classifySender(undefined, self)).toBeUndefined();
    // Only a string is a URL (new URL would read an array by its text).
    expect(classifySender({ id: 'ext-id', url: ['chrome-extension://ext-id/popup.html'] } as never, self)).toBeUndefined();
  });

  it('compares origins exactly (no prefix tricks)', () => {
    expect(classifySender({ id: 'ext-id', url: 'chrome-extension://ext-id-evil/panel.html' }, self)).toBeUndefined();
    expect(classifySender({ ...panelSender(), url: `chrome-extension://ext-id-evil/panel.html?convo=c1&ticket=${TICKET}` }, self)).toBeUndefined();
  });
});

import type { SenderLike } from '../../../src/rpc/sender';

/**
 * Port senders as Chrome and Firefox report them (both fill `tab`, `frameId` and `url` the same
 * way for these), for the RPC tests.
 */
export const self = { id: 'ext-id', origin: 'chrome-extension://ext-id' };

export const TAB = 7;
export const PANEL_FRAME = 12;
export const TICKET = '0123456789abcdef0123456789abcdef';

/** The popup: no tab at all. */
export const popupSender: SenderLike = { id: 'ext-id', url: 'chrome-extension://ext-id/popup.html' };

/** The options page, a tab of its own: its frame 0 is ours. */
export const optionsSender: SenderLike = {
  id: 'ext-id',
  url: 'chrome-extension://ext-id/options.html',
  tab: { id: 3, url: 'chrome-extension://ext-id/options.html' },
  frameId: 0,
};

/** Our content script, in bsky.app's top frame. */
export const contentSender: SenderLike = {
  id: 'ext-id',
  url: 'https://bsky.app/messages/c1',
  tab: { id: TAB, url: 'https://bsky.app/messages/c1' },
  frameId: 0,
};

/** Our panel page framed in that bsky.app tab, its URL carrying `ticket`. */
export function panelSender(ticket = TICKET, frameId = PANEL_FRAME, tabId = TAB): SenderLike {
  return {
    id: 'ext-id',
    url: `chrome-extension://ext-id/panel.html?convo=c1&ticket=${ticket}&theme=dim`,
    tab: { id: tabId, url: 'https://bsky.app/messages/c1' },
    frameId,
  };
}

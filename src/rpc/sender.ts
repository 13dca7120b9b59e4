import type { Caller } from './methods';

/** The subset of `runtime.MessageSender` the browser fills in for a connecting port. */
export interface SenderLike {
  id?: string;
  url?: string;
  tab?: unknown;
  frameId?: number;
}

const BSKY_ORIGIN = 'https://bsky.app';

export interface ExtensionSelf {
  /** `runtime.id` */
  id: string;
  /** origin of `runtime.getURL('/')`, e.g. `chrome-extension://<id>` or `moz-extension://<uuid>` */
  origin: string;
}

/**
 * `scheme://host` of a URL. Built by hand because `URL.origin` is the opaque "null" for
 * non-special schemes in some runtimes (Node, older Firefox), which would make every
 * extension URL compare equal.
 */
export function originOf(url: string | undefined): string | undefined {
  // Only a string: `new URL` would take an array or an object by its text.
  if (typeof url !== 'string' || !url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.host ? `${parsed.protocol}//${parsed.host}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Decides who is calling from what the browser itself reports about the port. Pages of our own
 * origin (popup, options, the panel iframe even when framed by bsky.app) are extension pages;
 * our content script runs with a web page's URL inside a tab. Anything else — another
 * extension, an unknown origin, a sender without a URL — is refused by returning undefined.
 */
export function classifySender(sender: SenderLike | undefined, self: ExtensionSelf): Caller | undefined {
  if (!sender || sender.id !== self.id) return undefined;
  const origin = originOf(sender.url);
  if (!origin) return undefined;
  if (origin === self.origin) {
    // A page of ours framed in a tab (the panel) is privileged only inside bsky.app or our own
    // pages. In Firefox MV2 web-accessible resources cannot be limited by origin, so without
    // this any site that learned our moz-extension URL could frame the panel and drive it.
    if (sender.tab !== undefined) {
      // Whatever the tab is (null included: found by fuzzing, it threw out of servePort), only
      // a URL of ours or bsky.app's admits the frame.
      const tabUrl = (sender.tab as { url?: unknown } | null)?.url;
      const tabOrigin = originOf(typeof tabUrl === 'string' ? tabUrl : undefined);
      if (tabOrigin !== self.origin && tabOrigin !== BSKY_ORIGIN) return undefined;
    }
    return 'extension-page';
  }
  if (sender.tab !== undefined && origin === BSKY_ORIGIN) return 'content-script';
  return undefined;
}

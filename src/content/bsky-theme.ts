import type { Theme } from '../ui/theme';

/**
 * bsky.app's theme as its page states it: the web app puts `theme--light`, `theme--dim` or
 * `theme--dark` on <html> and swaps it when the user (or the system colour scheme) changes it
 * (social-app `src/alf/util/useColorModeTheme.ts`, `updateDocument`). Only that class list is
 * read, never page text. Undefined when there is none: the panel then follows the system.
 */
export function bskyTheme(doc: Document): Theme | undefined {
  const classes = doc.documentElement.classList;
  // One class at a time in practice; if a page ever had several, the darkest wins, so a dark
  // page never gets a glaring white panel.
  for (const theme of ['dark', 'dim', 'light'] as const) {
    if (classes.contains(`theme--${theme}`)) return theme;
  }
  return undefined;
}

/**
 * The extension's panel URL for a conversation, with the page's theme when it has one and the
 * ticket that admits this frame as the panel (src/rpc/panel-tickets.ts; the background reads it
 * from the URL the browser reports for the frame's port, src/rpc/sender.ts).
 */
export function panelUrl(base: string, convoId: string, theme: Theme | undefined, ticket: string): string {
  const params = new URLSearchParams({ convo: convoId, ticket });
  if (theme) params.set('theme', theme);
  return `${base}?${params}`;
}

export type Theme = 'light' | 'dim' | 'dark';

export function parseTheme(value: string | null): Theme | undefined {
  return value === 'light' || value === 'dim' || value === 'dark' ? value : undefined;
}

/**
 * bsky.app's theme comes from the page (the content script passes it in the panel URL). Without
 * it, base.css follows prefers-color-scheme.
 */
export function applyTheme(theme: Theme | undefined, root: HTMLElement = document.documentElement): void {
  if (theme) root.dataset.theme = theme;
  else delete root.dataset.theme;
}

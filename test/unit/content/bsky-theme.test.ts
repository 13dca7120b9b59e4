// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { bskyTheme, panelUrl } from '../../../src/content/bsky-theme';
import { parseTheme } from '../../../src/ui/theme';

afterEach(() => {
  document.documentElement.className = '';
});

describe("bsky.app's theme", () => {
  it('is read from the theme--* class bsky.app puts on <html>', () => {
    expect(bskyTheme(document)).toBeUndefined();
    for (const theme of ['light', 'dim', 'dark'] as const) {
      document.documentElement.className = `some-other theme--${theme}`;
      expect(bskyTheme(document)).toBe(theme);
    }
  });

  it('ignores look-alike classes and, should several be present, takes the darkest', () => {
    document.documentElement.className = 'theme--neon theme-dark dark';
    expect(bskyTheme(document)).toBeUndefined();
    document.documentElement.className = 'theme--light theme--dark';
    expect(bskyTheme(document)).toBe('dark');
  });

  it('goes into the panel URL, beside the ticket, where the panel reads it back', () => {
    const ticket = '0123456789abcdef0123456789abcdef';
    const url = panelUrl('chrome-extension://ext/panel.html', '3kabc', 'dim', ticket);
    expect(url).toBe(`chrome-extension://ext/panel.html?convo=3kabc&ticket=${ticket}&theme=dim`);
    expect(parseTheme(new URL(url).searchParams.get('theme'))).toBe('dim');
    expect(new URL(url).searchParams.get('ticket')).toBe(ticket);
    expect(panelUrl('chrome-extension://ext/panel.html', '3kabc', undefined, ticket)).toBe(
      `chrome-extension://ext/panel.html?convo=3kabc&ticket=${ticket}`,
    );
  });
});

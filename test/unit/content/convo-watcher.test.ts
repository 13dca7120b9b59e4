// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from 'vitest';
import { createConvoWatcher, findConvoScreen } from '../../../src/content/convo-watcher';
import { HOST_ATTRIBUTE } from '../../../src/content/convo-mount';
import type { ConvoStatus } from '../../../src/rpc/methods';
import type { Theme } from '../../../src/ui/theme';

/**
 * A click as a user's gesture makes it: happy-dom lets a test mark the event trusted, which a
 * page script cannot do in a browser (the e2e tests click for real).
 */
function userClick(target: Element) {
  const event = new MouseEvent('click', { bubbles: true });
  Object.defineProperty(event, 'isTrusted', { value: true });
  target.dispatchEvent(event);
}

function screen(hidden = false) {
  const el = document.createElement('div');
  el.setAttribute('data-testid', 'convoScreen');
  if (hidden) el.style.display = 'none';
  document.body.append(el);
  return el;
}

function setup(statuses: Record<string, boolean> = {}, tickets: { refuse?: boolean } = {}) {
  const location = { pathname: '/' };
  const asked: string[] = [];
  const page: { theme: Theme | undefined } = { theme: undefined };
  let issued = 0;
  const watcher = createConvoWatcher({
    doc: document,
    location,
    // Each frame's URL carries a ticket the background issues (so it takes a moment).
    panelUrl: async (id, theme) => {
      await settle();
      if (tickets.refuse) throw new Error('Disconnected');
      return `chrome-extension://ext/panel.html?convo=${id}&ticket=t${++issued}${theme ? `&theme=${theme}` : ''}`;
    },
    convoStatus: async (convoId): Promise<ConvoStatus> => {
      asked.push(convoId);
      return { convoId, encrypted: statuses[convoId] ?? false };
    },
    theme: () => page.theme,
  });
  return { watcher, location, asked, page };
}

const hosts = () => Array.from(document.querySelectorAll(`[${HOST_ATTRIBUTE}]`));
function settle() {
  return new Promise((r) => setTimeout(r, 0));
}

beforeEach(() => {
  document.body.innerHTML = '';
});

describe('convo watcher', () => {
  it('mounts the toggle on a conversation screen, and the extension panel iframe once the user opens it', async () => {
    const { watcher, location, asked } = setup({ c1: true });
    const s = screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    expect(hosts()).toHaveLength(1);
    const host = hosts()[0] as HTMLElement;
    expect(host.parentElement).toBe(s);
    expect(host.getAttribute(HOST_ATTRIBUTE)).toBe('c1');
    // No frame (and so no panel for the background to serve) until the panel is opened.
    expect(host.shadowRoot!.querySelector('iframe')).toBeNull();
    await settle();
    expect(asked).toEqual(['c1']);
    expect(host.shadowRoot!.querySelector('[data-testid="atm-state"]')!.textContent).toBe('on');

    const toggle = host.shadowRoot!.querySelector('button')!;
    userClick(toggle);
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    await settle();
    const frame = host.shadowRoot!.querySelector('iframe')!;
    expect(frame.getAttribute('src')).toBe('chrome-extension://ext/panel.html?convo=c1&ticket=t1');
    expect(frame.getAttribute('referrerpolicy')).toBe('no-referrer');
    expect(frame.hidden).toBe(false);
    expect(toggle.getAttribute('aria-pressed')).toBe('true');
    userClick(toggle);
    expect(host.shadowRoot!.querySelectorAll('iframe')).toHaveLength(1);
    expect(frame.hidden).toBe(true);
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    await settle();
    // Each open or close asks for the status again.
    expect(asked).toEqual(['c1', 'c1', 'c1']);
  });

  it('waits for the screen to render before mounting', () => {
    const { watcher, location } = setup();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    expect(hosts()).toHaveLength(0);
    screen();
    watcher.reconcile();
    expect(hosts()).toHaveLength(1);
  });

  it('is idempotent', () => {
    const { watcher, location } = setup();
    screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    const first = hosts()[0];
    watcher.reconcile();
    watcher.reconcile();
    expect(hosts()).toEqual([first]);
  });

  it('remounts for another conversation and unmounts when leaving messages', () => {
    const { watcher, location } = setup();
    const s1 = screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();

    // bsky.app keeps the old screen in the DOM, hidden, and renders a new one.
    s1.style.display = 'none';
    const s2 = screen();
    location.pathname = '/messages/c2';
    watcher.reconcile();
    expect(hosts()).toHaveLength(1);
    expect(hosts()[0]!.getAttribute(HOST_ATTRIBUTE)).toBe('c2');
    expect(hosts()[0]!.parentElement).toBe(s2);

    location.pathname = '/profile/alice.test';
    watcher.reconcile();
    expect(hosts()).toHaveLength(0);
  });

  it('remounts when the same screen element is reused for another conversation', () => {
    const { watcher, location } = setup();
    screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    location.pathname = '/messages/c2';
    watcher.reconcile();
    expect(hosts().map((h) => h.getAttribute(HOST_ATTRIBUTE))).toEqual(['c2']);
  });

  it('mounts again if the page re-renders and drops our host', () => {
    const { watcher, location } = setup();
    const s = screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    s.replaceChildren();
    watcher.reconcile();
    expect(hosts()).toHaveLength(1);
  });

  it('shows "unavailable" when the background cannot answer', async () => {
    const watcher = createConvoWatcher({
      doc: document,
      location: { pathname: '/messages/c1' },
      panelUrl: async () => 'chrome-extension://ext/panel.html',
      convoStatus: () => Promise.reject(new Error('Disconnected')),
    });
    screen();
    watcher.reconcile();
    await settle();
    const host = hosts()[0] as HTMLElement;
    expect(host.shadowRoot!.querySelector('[data-testid="atm-state"]')!.textContent).toBe('unavailable');
  });

  it('ignores synthetic clicks on the toggle (only real user gestures open the panel)', async () => {
    const { watcher, location } = setup();
    screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    const root = (hosts()[0] as HTMLElement).shadowRoot!;
    root.querySelector('button')!.click();
    await settle();
    await settle();
    expect(root.querySelector('iframe')).toBeNull();
    expect(root.querySelector('button')!.getAttribute('aria-pressed')).toBe('false');
  });

  it('shows pushed status for the mounted conversation only', async () => {
    const { watcher, location } = setup();
    screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    await settle();
    const state = () => (hosts()[0] as HTMLElement).shadowRoot!.querySelector('[data-testid="atm-state"]')!.textContent;
    expect(state()).toBe('off');
    watcher.showStatus({ convoId: 'c2', encrypted: true });
    expect(state()).toBe('off');
    watcher.showStatus({ convoId: 'c1', encrypted: true });
    expect(state()).toBe('on');
  });

  it("draws the panel in bsky.app's theme and follows a change with a fresh frame (and ticket), open if it was", async () => {
    const { watcher, location, page } = setup();
    screen();
    location.pathname = '/messages/c1';
    page.theme = 'light';
    watcher.reconcile();
    const host = hosts()[0] as HTMLElement;
    const frame = () => host.shadowRoot!.querySelectorAll('iframe');
    const bar = host.shadowRoot!.querySelector<HTMLElement>('.bar')!;
    // Before the panel is opened a theme change only restyles the bar; the frame is made in the
    // theme of the moment it opens.
    page.theme = 'dark';
    watcher.reconcile();
    expect(bar.dataset.theme).toBe('dark');
    expect(frame()).toHaveLength(0);
    page.theme = 'light';
    watcher.reconcile();
    userClick(host.shadowRoot!.querySelector('button')!);
    await settle();
    expect(frame()[0]!.getAttribute('src')).toBe('chrome-extension://ext/panel.html?convo=c1&ticket=t1&theme=light');
    expect(bar.dataset.theme).toBe('light');

    const first = frame()[0]!;
    watcher.reconcile(); // nothing changed: the same frame stays
    expect(frame()[0]).toBe(first);

    // The page turns dark while the panel is open: the old frame stays until the new one's URL is there.
    page.theme = 'dim';
    watcher.reconcile();
    expect(frame()[0]).toBe(first);
    await settle();
    expect(hosts()).toEqual([host]);
    expect(frame()).toHaveLength(1);
    expect(frame()[0]).not.toBe(first);
    expect(frame()[0]!.getAttribute('src')).toBe('chrome-extension://ext/panel.html?convo=c1&ticket=t2&theme=dim');
    expect(frame()[0]!.hidden).toBe(false);
    expect(bar.dataset.theme).toBe('dim');

    page.theme = undefined;
    watcher.reconcile();
    await settle();
    expect(frame()[0]!.getAttribute('src')).toBe('chrome-extension://ext/panel.html?convo=c1&ticket=t3');
    expect(bar.dataset.theme).toBeUndefined();

    // Two changes before the first frame's URL is there: only the newest frame is placed.
    page.theme = 'light';
    watcher.reconcile();
    page.theme = 'dark';
    watcher.reconcile();
    await settle();
    await settle();
    expect(frame()).toHaveLength(1);
    expect(frame()[0]!.getAttribute('src')).toBe('chrome-extension://ext/panel.html?convo=c1&ticket=t5&theme=dark');
  });

  it('places the frame closed if the user closed the panel before its ticket came', async () => {
    const { watcher, location } = setup();
    screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    const root = (hosts()[0] as HTMLElement).shadowRoot!;
    const toggle = root.querySelector('button')!;
    userClick(toggle);
    userClick(toggle);
    expect(toggle.getAttribute('aria-pressed')).toBe('false');
    await settle();
    expect(root.querySelectorAll('iframe')).toHaveLength(1);
    expect(root.querySelector('iframe')!.hidden).toBe(true);
    userClick(toggle);
    expect(root.querySelectorAll('iframe')).toHaveLength(1);
    expect(root.querySelector('iframe')!.hidden).toBe(false);
  });

  it('makes no frame without a ticket (the background would refuse it), and asks again on the next open', async () => {
    const tickets = { refuse: true };
    const { watcher, location } = setup({}, tickets);
    screen();
    location.pathname = '/messages/c1';
    watcher.reconcile();
    const root = (hosts()[0] as HTMLElement).shadowRoot!;
    const toggle = root.querySelector('button')!;
    userClick(toggle);
    await settle();
    expect(root.querySelector('iframe')).toBeNull();
    userClick(toggle); // closed
    tickets.refuse = false;
    userClick(toggle); // opened again: a ticket this time
    await settle();
    expect(root.querySelector('iframe')!.getAttribute('src')).toBe('chrome-extension://ext/panel.html?convo=c1&ticket=t1');
    expect(root.querySelector('iframe')!.hidden).toBe(false);
  });

  it('picks the last visible conversation screen', () => {
    screen();
    const visible = screen();
    screen(true);
    expect(findConvoScreen(document)).toBe(visible);
  });
});

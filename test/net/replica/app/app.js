// The replica's client: a stack navigator over history.pushState, shaped like bsky.app's
// react-navigation stack on the web. Each history entry has its own screen element; pushing
// hides the previous screens (display:none) and keeps them, going back removes the popped
// screens and shows the earlier one again, going forward renders the entry anew.
'use strict';

(function () {
  const config = JSON.parse(document.getElementById('replica-config').textContent);
  const convos = new Map(config.convos.map((c) => [c.id, c]));
  const screensEl = document.getElementById('screens');

  /** @type {{ idx: number, path: string, el: HTMLElement }[]} ordered by idx */
  let stack = [];
  let current = 0;

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v);
    }
    for (const c of children) el.append(c);
    return el;
  }

  // Themes as bsky.app does them (social-app src/alf/util/useColorModeTheme.ts): a colour mode
  // (system, light or dark) and the dark theme to use (dim or dark), kept in localStorage; the
  // theme in use is stated by exactly one `theme--light|dim|dark` class on <html>, swapped when
  // the preference or the system colour scheme changes.
  const systemDark = window.matchMedia('(prefers-color-scheme: dark)');

  function themePrefs() {
    const colorMode = localStorage.getItem('replica.colorMode');
    const darkTheme = localStorage.getItem('replica.darkTheme');
    return {
      colorMode: colorMode === 'light' || colorMode === 'dark' ? colorMode : 'system',
      darkTheme: darkTheme === 'dark' ? 'dark' : 'dim',
    };
  }

  function applyTheme() {
    const { colorMode, darkTheme } = themePrefs();
    const light = colorMode === 'light' || (colorMode === 'system' && !systemDark.matches);
    const theme = light ? 'light' : darkTheme;
    const html = document.documentElement;
    html.className = html.className.replace(/(theme)--\w+/g, '').trim();
    html.classList.add(`theme--${theme}`);
  }

  function setThemePref(key, value) {
    localStorage.setItem(`replica.${key}`, value);
    applyTheme();
  }

  applyTheme();
  systemDark.addEventListener('change', applyTheme);

  function route(pathname) {
    if (pathname === '/' || pathname === '') return { name: 'home' };
    if (/^\/settings\/appearance\/?$/.test(pathname)) return { name: 'appearance' };
    if (/^\/messages\/?$/.test(pathname)) return { name: 'inbox' };
    if (/^\/messages\/settings\/?$/.test(pathname)) return { name: 'messagesSettings' };
    let m = /^\/messages\/([^/]+)\/?$/.exec(pathname);
    if (m) return { name: 'convo', convoId: decodeURIComponent(m[1]) };
    m = /^\/profile\/([^/]+)\/?$/.exec(pathname);
    if (m) return { name: 'profile', handle: decodeURIComponent(m[1]) };
    return { name: 'notFound' };
  }

  function convoLink(c, testIdPrefix) {
    return h('a', { href: `/messages/${encodeURIComponent(c.id)}`, 'data-testid': `${testIdPrefix}${c.id}` }, c.title);
  }

  function homeScreen() {
    return h(
      'div',
      { 'data-testid': 'homeScreen' },
      h('h1', {}, 'Home'),
      h('p', {}, 'Nothing to see here: this is a local replica of bsky.app for tests.'),
      h('a', { href: '/messages' }, 'Open chats'),
    );
  }

  function inboxScreen() {
    return h(
      'div',
      { 'data-testid': 'messagesScreen' },
      h('h1', {}, 'Chats'),
      h('ul', { class: 'inbox-list' }, ...config.convos.map((c) => h('li', {}, convoLink(c, 'convo-link-')))),
      h('a', { href: '/messages/settings' }, 'Chat settings'),
    );
  }

  function messagesSettingsScreen() {
    return h('div', { 'data-testid': 'messagesSettingsScreen' }, h('h1', {}, 'Chat settings'));
  }

  function profileScreen(handle) {
    return h(
      'div',
      { 'data-testid': 'profileScreen' },
      h('h1', {}, `@${handle}`),
      h('a', { href: '/messages' }, 'Message'),
    );
  }

  function appearanceScreen() {
    const choice = (key, value, label) =>
      h('button', { type: 'button', 'data-testid': `appearance-${key}-${value}`, onclick: () => setThemePref(key, value) }, label);
    return h(
      'div',
      { 'data-testid': 'appearanceScreen' },
      h('h1', {}, 'Appearance'),
      h('h2', {}, 'Color mode'),
      h('div', { class: 'choices' }, choice('colorMode', 'system', 'System'), choice('colorMode', 'light', 'Light'), choice('colorMode', 'dark', 'Dark')),
      h('h2', {}, 'Dark theme'),
      h('div', { class: 'choices' }, choice('darkTheme', 'dim', 'Dim'), choice('darkTheme', 'dark', 'Dark')),
    );
  }

  function notFoundScreen() {
    return h('div', { 'data-testid': 'notFoundScreen' }, h('h1', {}, 'Page not found'));
  }

  function convoScreen(convoId) {
    const convo = convos.get(convoId);
    const screen = h('div', { 'data-testid': 'convoScreen' });
    const loading = h('p', { 'data-testid': 'convoLoading' }, 'Loading…');
    screen.append(loading);
    // Like bsky.app, the screen exists first and its content arrives a moment later. The
    // content is added next to whatever else is in the screen (React does not wipe nodes it
    // did not create), so an element another script prepended stays where it is.
    setTimeout(() => {
      loading.remove();
      const log = h('div', { class: 'messages', role: 'log', 'data-testid': 'convoMessages' });
      if (convo) log.append(h('div', { class: 'msg' }, `Hi, this is ${convo.title}.`));
      const textarea = h('textarea', {
        rows: '1',
        placeholder: 'Write a message',
        'aria-label': 'Message input field',
        'data-testid': 'messageInput',
      });
      const form = h(
        'form',
        {
          class: 'composer',
          'data-testid': 'composer',
          onsubmit(event) {
            event.preventDefault();
            const text = textarea.value.trim();
            if (!text) return;
            log.append(h('div', { class: 'msg mine' }, text));
            textarea.value = '';
          },
        },
        textarea,
        h('button', { type: 'submit', 'data-testid': 'sendBtn', 'aria-label': 'Send message' }, 'Send'),
      );
      screen.append(
        h(
          'div',
          { class: 'convo-header' },
          h('a', { href: '/messages', 'aria-label': 'Back' }, '←'),
          h('h1', { 'data-testid': 'convoTitle' }, convo ? convo.title : 'Conversation not found'),
        ),
        log,
        form,
      );
    }, config.convoLoadDelayMs);
    return screen;
  }

  function render(path) {
    const r = route(new URL(path, location.origin).pathname);
    switch (r.name) {
      case 'home':
        return homeScreen();
      case 'inbox':
        return inboxScreen();
      case 'messagesSettings':
        return messagesSettingsScreen();
      case 'convo':
        return convoScreen(r.convoId);
      case 'profile':
        return profileScreen(r.handle);
      case 'appearance':
        return appearanceScreen();
      default:
        return notFoundScreen();
    }
  }

  function currentPath() {
    return location.pathname + location.search;
  }

  function addScreen(idx, path) {
    const el = h('section', { class: 'screen', 'data-screen-index': String(idx) }, render(path));
    stack.push({ idx, path, el });
    stack.sort((a, b) => a.idx - b.idx);
    screensEl.append(el);
  }

  function show(idx) {
    current = idx;
    for (const s of stack) s.el.style.display = s.idx === idx ? '' : 'none';
    const entry = stack.find((s) => s.idx === idx);
    const title = entry && entry.el.querySelector('h1');
    document.title = `${title ? title.textContent : 'Bluesky'} — Bluesky (local replica)`;
  }

  function removeAbove(idx) {
    for (const s of stack) if (s.idx > idx) s.el.remove();
    stack = stack.filter((s) => s.idx <= idx);
  }

  function navigate(path) {
    if (path === currentPath()) return;
    const idx = current + 1;
    removeAbove(current); // a push drops the forward entries, as history does
    history.pushState({ replicaIndex: idx }, '', path);
    addScreen(idx, path);
    show(idx);
  }

  window.addEventListener('popstate', (event) => {
    const idx = event.state && typeof event.state.replicaIndex === 'number' ? event.state.replicaIndex : 0;
    removeAbove(idx);
    if (!stack.some((s) => s.idx === idx)) addScreen(idx, currentPath());
    show(idx);
  });

  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target instanceof Element ? event.target.closest('a[href]') : null;
    if (!a || a.target) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });

  const navConvos = document.getElementById('nav-convos');
  for (const c of config.convos) navConvos.append(h('li', {}, convoLink(c, 'nav-convo-')));

  const initial = history.state && typeof history.state.replicaIndex === 'number' ? history.state.replicaIndex : 0;
  history.replaceState({ replicaIndex: initial }, '');
  addScreen(initial, currentPath());
  show(initial);
})();

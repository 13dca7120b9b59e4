// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import type { NetworkSettings } from '../../../src/rpc/methods';
import { Options } from '../../../src/ui/options/Options';
import { applyTheme, parseTheme } from '../../../src/ui/theme';
import { byTestId, callsOf, fakeRpc, mount, rpcError, settle, submit, type, unmountAll } from './harness';

const DEFAULTS: NetworkSettings = {
  plcUrl: 'https://plc.directory',
  handleResolver: 'https://api.bsky.app',
  chatProxy: 'did:web:api.bsky.chat#bsky_chat',
};

afterEach(unmountAll);

describe('options', () => {
  it('loads the network settings and shows what the background stored', async () => {
    const rpc = fakeRpc({
      'background.info': () => ({ version: '0.1.0', startedAt: 0 }),
      'settings.network': () => DEFAULTS,
      // The background normalises (drops the trailing slash): the form shows its answer.
      'settings.setNetwork': (p) => ({ ...p, plcUrl: p.plcUrl.replace(/\/$/, '') }),
    });
    const root = mount(rpc, <Options />);
    await settle();
    const plc = byTestId<HTMLInputElement>(root, 'settings-plc');
    expect(plc.value).toBe(DEFAULTS.plcUrl);
    expect(root.querySelector('[data-testid="settings-saved"]')).toBeNull();

    await type(plc, 'http://localhost:2582/');
    await submit(byTestId(root, 'settings-save').closest('form')!);
    expect(callsOf(rpc, 'settings.setNetwork')).toEqual([{ ...DEFAULTS, plcUrl: 'http://localhost:2582/' }]);
    expect(plc.value).toBe('http://localhost:2582');
    expect(byTestId(root, 'settings-saved').textContent).toBe('Saved.');
  });

  it('says what is wrong when the background refuses', async () => {
    const rpc = fakeRpc({
      'settings.network': () => DEFAULTS,
      'settings.setNetwork': () => {
        throw rpcError('BadRequest');
      },
    });
    const root = mount(rpc, <Options />);
    await settle();
    await submit(byTestId(root, 'settings-save').closest('form')!);
    expect(byTestId(root, 'settings-error').textContent).toContain('https');
    expect(root.querySelector('[data-testid="settings-saved"]')).toBeNull();
  });
});

describe('theme', () => {
  it('accepts only bsky.app themes and falls back to the system preference', () => {
    const root = document.createElement('html');
    applyTheme(parseTheme('dim'), root);
    expect(root.dataset.theme).toBe('dim');
    applyTheme(parseTheme('neon'), root);
    expect(root.dataset.theme).toBeUndefined();
  });
});

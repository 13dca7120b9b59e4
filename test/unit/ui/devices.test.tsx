// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../../src/rpc/methods';
import { Options } from '../../../src/ui/options/Options';
import { byTestId, callsOf, click, fakeRpc, mount, rpcError, settle, unmountAll } from './harness';

const DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const uri = (rkey: string) => `at://${DID}/org.atmessaging.device/${rkey}`;
const THIS: DeviceView = { rkey: '3laaaaaaaaaa2', uri: uri('3laaaaaaaaaa2'), createdAt: '2025-03-01T10:00:00.000Z', thisDevice: true, readable: true, keyPackages: 11 };
const LAPTOP: DeviceView = {
  rkey: '3lbbbbbbbbbb2',
  uri: uri('3lbbbbbbbbbb2'),
  name: 'Work laptop',
  createdAt: '2025-04-01T10:00:00.000Z',
  thisDevice: false,
  readable: true,
  keyPackages: 1,
};
const JUNK: DeviceView = { rkey: '3lcccccccccc2', uri: uri('3lcccccccccc2'), thisDevice: false, readable: false, keyPackages: 0 };

function optionsRpc(devices: DeviceView[]) {
  let current = devices;
  return fakeRpc({
    'settings.network': () => ({ plcUrl: 'https://plc.directory', handleResolver: 'https://api.bsky.app', chatProxy: 'did:web:api.bsky.chat#bsky_chat' }),
    'devices.list': () => ({ devices: current }),
    'devices.revoke': ({ rkey }) => {
      current = current.filter((d) => d.rkey !== rkey);
      return { rkey, keyPackagesDeleted: 1 };
    },
  });
}

async function open(rpc: ReturnType<typeof fakeRpc>) {
  const root = mount(rpc, <Options />);
  await settle();
  return root;
}

const rows = (root: HTMLElement) => Array.from(byTestId(root, 'device-list').querySelectorAll<HTMLElement>(':scope > li'));

afterEach(unmountAll);

describe('options: devices', () => {
  it('lists this device and the others, with revoke buttons for the others only', async () => {
    const root = await open(optionsRpc([THIS, LAPTOP, JUNK]));
    expect(rows(root).map((li) => [li.dataset.testid, li.dataset.thisDevice])).toEqual([
      [`device-${THIS.rkey}`, 'true'],
      [`device-${LAPTOP.rkey}`, 'false'],
      [`device-${JUNK.rkey}`, 'false'],
    ]);
    const mine = byTestId(root, `device-${THIS.rkey}`);
    expect(mine.textContent).toContain('this device');
    expect(mine.textContent).toContain('sign out');
    expect(mine.querySelector('button')).toBeNull();
    expect(byTestId(root, `device-${LAPTOP.rkey}`).textContent).toContain('Work laptop');
    expect(byTestId(root, `device-revoke-${LAPTOP.rkey}`).getAttribute('aria-label')).toBe('Revoke Work laptop');
    expect(byTestId(root, `device-revoke-${JUNK.rkey}`).getAttribute('aria-label')).toBe(`Revoke unrecognised device record ${JUNK.rkey}`);
    // The list is named by its heading.
    expect(byTestId(root, 'device-list').getAttribute('aria-labelledby')).toBe('devices-title');
  });

  it('asks first (focus on Cancel), revokes on confirmation, says so and shows the list without it', async () => {
    const rpc = optionsRpc([THIS, LAPTOP]);
    const root = await open(rpc);
    await click(byTestId(root, `device-revoke-${LAPTOP.rkey}`));
    expect(callsOf(rpc, 'devices.revoke')).toEqual([]);
    expect(document.activeElement).toBe(byTestId(root, `device-revoke-cancel-${LAPTOP.rkey}`));
    expect(byTestId(root, `device-${LAPTOP.rkey}`).querySelector('[role="group"]')!.textContent).toContain('Revoke Work laptop?');

    await click(byTestId(root, `device-revoke-cancel-${LAPTOP.rkey}`));
    expect(document.activeElement).toBe(byTestId(root, `device-revoke-${LAPTOP.rkey}`));

    await click(byTestId(root, `device-revoke-${LAPTOP.rkey}`));
    await click(byTestId(root, `device-revoke-confirm-${LAPTOP.rkey}`));
    expect(callsOf(rpc, 'devices.revoke')).toEqual([{ rkey: LAPTOP.rkey, confirm: true }]);
    expect(byTestId(root, 'devices-notice').textContent).toBe('Revoked Work laptop; 1 key package deleted.');
    expect(rows(root).map((li) => li.dataset.testid)).toEqual([`device-${THIS.rkey}`]);
    expect(callsOf(rpc, 'devices.list')).toHaveLength(2);
    expect(document.activeElement).toBe(byTestId(root, 'devices').querySelector('h2'));
  });

  it('says why a revocation failed and keeps the device and the question', async () => {
    const rpc = optionsRpc([THIS, LAPTOP]);
    rpc.handlers['devices.revoke'] = () => {
      throw rpcError('Network');
    };
    const root = await open(rpc);
    await click(byTestId(root, `device-revoke-${LAPTOP.rkey}`));
    await click(byTestId(root, `device-revoke-confirm-${LAPTOP.rkey}`));
    const error = byTestId(root, `device-revoke-error-${LAPTOP.rkey}`);
    expect(error.getAttribute('role')).toBe('alert');
    expect(error.textContent).toContain('could not be reached');
    expect(byTestId(root, `device-revoke-confirm-${LAPTOP.rkey}`).getAttribute('aria-disabled')).toBe('false');
    expect(rows(root)).toHaveLength(2);
    expect(byTestId(root, 'devices-notice').textContent).toBe('');
  });

  it('asks to sign in when there is no account, and offers a retry on other errors', async () => {
    const signedOut = optionsRpc([]);
    signedOut.handlers['devices.list'] = () => {
      throw rpcError('NotSignedIn');
    };
    let root = await open(signedOut);
    expect(byTestId(root, 'devices-signed-out').textContent).toContain('Sign in');
    unmountAll();

    const failing = optionsRpc([THIS]);
    let fail = true;
    failing.handlers['devices.list'] = () => {
      if (fail) throw rpcError('Network');
      return { devices: [THIS] };
    };
    root = await open(failing);
    expect(byTestId(root, 'devices-error').textContent).toContain('Network');
    fail = false;
    await click(byTestId(root, 'devices').querySelector<HTMLButtonElement>('[role="alert"] + button')!);
    expect(rows(root)).toHaveLength(1);
  });
});

import { useRef, useState } from 'preact/hooks';
import type { DeviceView } from '../../rpc/methods';
import { useRpc } from '../rpc-context';
import { useLoadable } from '../use-rpc';
import { RevokeDevice } from './RevokeDevice';

const addedOn = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function deviceLabel(device: DeviceView): string {
  if (!device.readable) return `unrecognised device record ${device.rkey}`;
  return device.name?.trim() || `device ${device.rkey}`;
}

function DeviceItem({ device, onRevoked }: { device: DeviceView; onRevoked(label: string, keyPackages: number): void }) {
  const label = deviceLabel(device);
  const added = device.createdAt ? new Date(device.createdAt) : undefined;
  return (
    <li
      class="device"
      data-testid={`device-${device.rkey}`}
      data-this-device={String(device.thisDevice)}
      data-uri={device.uri}
    >
      <p class="device-name">
        <span class="name">{label.charAt(0).toUpperCase() + label.slice(1)}</span>
        {device.thisDevice && <strong class="this-device"> · this device</strong>}
      </p>
      <p class="muted">
        {added && !Number.isNaN(added.getTime()) ? `Added ${addedOn.format(added)} · ` : ''}
        {device.keyPackages === 1 ? '1 key package' : `${device.keyPackages} key packages`} published
      </p>
      {device.thisDevice ? (
        <p class="muted">To remove this device, sign out from the toolbar button: that also deletes its keys.</p>
      ) : (
        <RevokeDevice rkey={device.rkey} label={label} onRevoked={(r) => onRevoked(label, r.keyPackagesDeleted)} />
      )}
    </li>
  );
}

/**
 * This account's devices as its repo lists them: every browser profile signed in to
 * atmessaging is one. Another device can be revoked from here; this one is removed by signing out.
 */
export function Devices() {
  const rpc = useRpc();
  const [list, reload] = useLoadable(() => rpc.call('devices.list', {}), [rpc]);
  const [notice, setNotice] = useState<string | undefined>();
  const heading = useRef<HTMLHeadingElement>(null);

  function revoked(label: string, keyPackages: number) {
    setNotice(`Revoked ${label}; ${keyPackages === 1 ? '1 key package' : `${keyPackages} key packages`} deleted.`);
    // The revoked row (and the button that had focus) goes away: focus lands on the heading.
    heading.current?.focus();
    reload();
  }

  return (
    <section class="devices" aria-labelledby="devices-title" data-testid="devices">
      <h2 id="devices-title" ref={heading} tabIndex={-1}>
        Your devices
      </h2>
      <p class="muted">
        Each browser signed in to atmessaging is a device of your account, published in your repository. People you
        talk to encrypt for all of them.
      </p>
      <p role="status" class="saved" data-testid="devices-notice">
        {notice}
      </p>
      {list.state === 'loading' ? (
        <p class="muted">Loading your devices…</p>
      ) : list.state === 'error' ? (
        list.code === 'NotSignedIn' ? (
          <p data-testid="devices-signed-out">Sign in from the atmessaging toolbar button to see your devices.</p>
        ) : (
          <div>
            <p role="alert" data-testid="devices-error">
              Could not load your devices ({list.code}).
            </p>
            <button type="button" onClick={reload}>
              Try again
            </button>
          </div>
        )
      ) : (
        <ul class="device-list" aria-labelledby="devices-title" data-testid="device-list">
          {list.value.devices.map((d) => (
            <DeviceItem key={d.rkey} device={d} onRevoked={revoked} />
          ))}
        </ul>
      )}
    </section>
  );
}

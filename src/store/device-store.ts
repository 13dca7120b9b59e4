import type { DeviceStore, KeyPackageSecret, KeyPackageStore, LocalDevice } from '../engine/ports';
import type { AtmDb } from './db';

export function idbDeviceStore(db: AtmDb): DeviceStore {
  return {
    load: () => db.get('device', 'self'),
    async save(device: LocalDevice) {
      await db.put('device', device, 'self');
    },
  };
}

export function idbKeyPackageStore(db: AtmDb): KeyPackageStore {
  return {
    list: () => db.getAll('keyPackages'),
    get: (ref) => db.get('keyPackages', ref),
    async put(secret: KeyPackageSecret) {
      await db.put('keyPackages', secret);
    },
    async delete(ref) {
      await db.delete('keyPackages', ref);
    },
  };
}

import { describe, expect, it } from 'vitest';
import {
  decodeGroupState,
  decodeKeyPackageMessage,
  decryptApplicationMessage,
  describeMessage,
  encryptApplicationMessage,
  joinGroup,
  processCommit,
  selfUpdate,
  type MlsErrorCode,
} from '../../../src/mls';
import { decodeRatchetTreeBytes, encodeRatchetTreeBytes } from '../../../src/mls/messageCodec';
import { buildGroup, everyoneProcesses, hex, keyPackageFor, newDevice, rejection, utf8 } from './helpers';

function withTrailingByte(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Every prefix is refused with MlsDecode; sampled evenly plus the edges. */
async function everyTruncationFails(bytes: Uint8Array, op: (b: Uint8Array) => unknown): Promise<number> {
  const cuts = new Set([0, 1, 2, 3, bytes.length - 1, bytes.length - 2]);
  for (let i = 0; i < 40; i++) cuts.add(Math.floor((bytes.length * i) / 40));
  let checked = 0;
  for (const cut of cuts) {
    if (cut < 0 || cut >= bytes.length) continue;
    const err = await rejection(() => op(bytes.slice(0, cut)));
    expect(err.code, `cut at ${cut} of ${bytes.length}`).toBe('MlsDecode');
    checked++;
  }
  return checked;
}

const GARBAGE: Uint8Array[] = [
  new Uint8Array(0),
  Uint8Array.of(0),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0x00, 0x01, 0x00, 0x09), // mls10, unknown wire format
  Uint8Array.of(0x00, 0x02, 0x00, 0x02), // unknown protocol version
  Uint8Array.from({ length: 300 }, (_, i) => (i * 73 + 11) & 0xff),
];

describe('strict decoding', () => {
  it('rejects garbage everywhere bytes come in, with MlsDecode', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob']);
    const kp = await keyPackageFor(ctx, devices[1]!);
    const entryPoints: Array<[string, (b: Uint8Array) => unknown]> = [
      ['decodeKeyPackageMessage', (b) => decodeKeyPackageMessage(b)],
      ['describeMessage', (b) => describeMessage(b)],
      ['decryptApplicationMessage', (b) => decryptApplicationMessage(ctx, states[1]!, b)],
      ['processCommit', (b) => processCommit(ctx, states[1]!, b)],
      ['joinGroup', (b) => joinGroup(ctx, { welcome: b, keyPackage: kp.keyPackage, privateKeyPackage: kp.privateKeyPackage })],
      ['decodeRatchetTree', (b) => decodeRatchetTreeBytes(b)],
      ['decodeGroupState', (b) => decodeGroupState(ctx, b)],
    ];
    for (const [name, op] of entryPoints) {
      for (const g of GARBAGE) {
        const err = await rejection(() => op(g));
        expect(err.code, `${name} on ${hex(g).slice(0, 16)}`).toBe('MlsDecode');
      }
    }
  });

  it('rejects truncated and trailing-byte KeyPackages, Welcomes, trees, commits and messages', async () => {
    const { ctx, states, devices } = await buildGroup(['alice', 'bob']);
    const carol = await newDevice('carol');
    const kp = await keyPackageFor(ctx, carol);
    const msg = await encryptApplicationMessage(ctx, states[0]!, utf8('hello there'));
    const update = await selfUpdate(ctx, states[0]!);
    const bobKp = await keyPackageFor(ctx, devices[1]!);
    const cases: Array<[string, Uint8Array, (b: Uint8Array) => unknown]> = [
      ['KeyPackage', kp.encoded, (b) => decodeKeyPackageMessage(b)],
      ['application message', msg.message, (b) => decryptApplicationMessage(ctx, states[1]!, b)],
      ['commit', update.commit, (b) => processCommit(ctx, states[1]!, b)],
      ['ratchet tree', encodeRatchetTreeBytes(states[0]!.ratchetTree), (b) => decodeRatchetTreeBytes(b)],
      [
        'Welcome',
        (await buildGroup(['x', 'y'])).add.welcome,
        (b) => joinGroup(ctx, { welcome: b, keyPackage: bobKp.keyPackage, privateKeyPackage: bobKp.privateKeyPackage }),
      ],
    ];
    for (const [name, bytes, op] of cases) {
      expect(await everyTruncationFails(bytes, op), name).toBeGreaterThan(5);
      const trailing = await rejection(() => op(withTrailingByte(bytes)));
      expect(trailing.code, name).toBe('MlsDecode');
      expect(trailing.context.consumed, name).toBe(bytes.length);
    }
    // The untouched originals are fine.
    expect((await decryptApplicationMessage(ctx, states[1]!, msg.message)).sender.leafIndex).toBe(0);
  });

  it('decoded values do not alias the caller’s buffer', async () => {
    const { ctx, devices } = await buildGroup(['alice', 'bob']);
    const kp = await keyPackageFor(ctx, devices[0]!);
    const buffer = kp.encoded.slice();
    const decoded = decodeKeyPackageMessage(buffer);
    const key = hex(decoded.leafNode.signaturePublicKey);
    buffer.fill(0);
    expect(hex(decoded.leafNode.signaturePublicKey)).toBe(key);
  });
});

describe('routing and message kinds', () => {
  it('a message for another group is refused with WrongGroup', async () => {
    const one = await buildGroup(['alice', 'bob']);
    const two = await buildGroup(['alice', 'bob']);
    const msg = await encryptApplicationMessage(two.ctx, two.states[0]!, utf8('elsewhere'));
    expect((await rejection(() => decryptApplicationMessage(one.ctx, one.states[1]!, msg.message))).code).toBe('WrongGroup');
    const commit = await selfUpdate(two.ctx, two.states[0]!);
    expect((await rejection(() => processCommit(one.ctx, one.states[1]!, commit.commit))).code).toBe('WrongGroup');
  });

  it('a message of a later epoch is FutureEpoch; a commit of a past epoch is StaleEpoch', async () => {
    const { ctx, states } = await buildGroup(['alice', 'bob', 'carol']);
    const update = await selfUpdate(ctx, states[0]!);
    const next = await everyoneProcesses(ctx, states.slice(0, 2), 0, update);
    const ahead = await encryptApplicationMessage(ctx, next[1]!, utf8('from epoch 2'));
    const future = await rejection(() => decryptApplicationMessage(ctx, states[2]!, ahead.message));
    expect(future.code).toBe('FutureEpoch');
    expect(future.context).toMatchObject({ epoch: 2n, currentEpoch: 1n });
    const laterCommit = await selfUpdate(ctx, next[1]!);
    expect((await rejection(() => processCommit(ctx, states[2]!, laterCommit.commit))).code).toBe('FutureEpoch');

    // Carol catches up, then sees the losing branch's commit from epoch 1.
    const carol = (await processCommit(ctx, states[2]!, update.commit)).newState;
    const competing = await selfUpdate(ctx, states[1]!);
    expect((await rejection(() => processCommit(ctx, carol, competing.commit))).code).toBe('StaleEpoch');
  });

  it('the wrong kind of message for an entry point is UnexpectedMessage', async () => {
    const { ctx, states, devices, add } = await buildGroup(['alice', 'bob']);
    const msg = await encryptApplicationMessage(ctx, states[0]!, utf8('app'));
    const update = await selfUpdate(ctx, states[0]!);
    const kp = await keyPackageFor(ctx, devices[1]!);
    expect((await rejection(() => processCommit(ctx, states[1]!, msg.message))).code).toBe('UnexpectedMessage');
    expect((await rejection(() => decryptApplicationMessage(ctx, states[1]!, update.commit))).code).toBe('UnexpectedMessage');
    expect((await rejection(() => decryptApplicationMessage(ctx, states[1]!, add.welcome))).code).toBe('UnexpectedMessage');
    expect((await rejection(() => decodeKeyPackageMessage(add.welcome))).code).toBe('UnexpectedMessage');
    const welcomeErr = await rejection(() =>
      joinGroup(ctx, { welcome: kp.encoded, keyPackage: kp.keyPackage, privateKeyPackage: kp.privateKeyPackage }),
    );
    expect(welcomeErr.code).toBe('UnexpectedMessage');
    expect(describeMessage(msg.message)).toMatchObject({ kind: 'privateMessage', epoch: 1n, contentType: 'application' });
    expect(describeMessage(update.commit)).toMatchObject({ kind: 'privateMessage', contentType: 'commit' });
    expect(describeMessage(add.welcome).kind).toBe('welcome');
  });

  it('a Welcome for someone else is WelcomeNotForUs', async () => {
    const { ctx, add } = await buildGroup(['alice', 'bob']);
    const stranger = await newDevice('zed');
    const kp = await keyPackageFor(ctx, stranger);
    const err = await rejection(() =>
      joinGroup(ctx, { welcome: add.welcome, ratchetTree: add.ratchetTree, keyPackage: kp.keyPackage, privateKeyPackage: kp.privateKeyPackage }),
    );
    expect(err.code satisfies MlsErrorCode).toBe('WelcomeNotForUs');
  });
});

import { WebSocket as NodeWebSocket } from 'ws';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startDeliveryRunner, type DeliveryRunner } from '../../src/background/delivery-runner';
import { watchRepos, type WebSocketConstructor } from '../../src/atproto/firehose';
import { createIdentityResolver } from '../../src/atproto/identity';
import { newTid } from '../../src/engine/tid';
import { EVENT_COLLECTION_NSID } from '../../src/protocol/records';
import type { DeliveryEngine } from '../../src/engine/delivery-engine';
import { resumeCreationSession, uniqueName, type Account } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { deliveryEngineFor, startDevice } from './device-harness';

// The push path: bob's runner learns of alice's new event from the PDS firehose, not from its
// poll timer (set to an hour here), and reads it from alice's repo.

const net = attachNetwork(inject('network'));
// Node 20 has no global WebSocket; browsers (and Node 22) do.
const WebSocketImpl = ((globalThis as { WebSocket?: unknown }).WebSocket ?? NodeWebSocket) as WebSocketConstructor;

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let alice: Account;
let bob: Account;
let aliceEngine: DeliveryEngine;
let bobEngine: DeliveryEngine;
let runner: DeliveryRunner;
let wakeups = 0;

beforeAll(async () => {
  [alice, bob] = (await Promise.all([net.createAccount(uniqueName('alice')), net.createAccount(uniqueName('bob'))])) as [
    Account,
    Account,
  ];
  const aliceDevice = await startDevice('alice-w', await resumeCreationSession(net.pdsUrl, alice), alice.did, net.plcUrl);
  const bobDevice = await startDevice('bob-w', await resumeCreationSession(net.pdsUrl, bob), bob.did, net.plcUrl);
  aliceEngine = (await deliveryEngineFor(aliceDevice, `wake-alice-${newTid()}`)).engine;
  bobEngine = (await deliveryEngineFor(bobDevice, `wake-bob-${newTid()}`)).engine;
  const identity = createIdentityResolver({ plcUrl: net.plcUrl });
  runner = startDeliveryRunner({
    engine: bobEngine,
    contacts: () => [bob.did, alice.did],
    pdsOf: async (did) => (await identity.resolveDid(did)).pds,
    watch: (pdsUrl, dids, onChange, onClosed) =>
      watchRepos({
        serviceUrl: pdsUrl,
        dids,
        collection: EVENT_COLLECTION_NSID,
        onChange: (did, collections, rkeys) => {
          wakeups++;
          onChange(did, collections, rkeys);
        },
        onError: onClosed,
        WebSocketImpl,
      }),
    pollIntervalMs: 3600_000,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  });
});

afterAll(() => runner?.stop());

it('receives an invite and a message pushed by the firehose, with no poll in between', async () => {
  await runner.kick(); // the first round opens the stream
  const { groupId } = await aliceEngine.createGroup([bob.did]);
  await aliceEngine.flush();
  await until(async () => (await bobEngine.groups()).some((g) => g.groupId === groupId));

  await aliceEngine.sendText(groupId, 'pushed to bob');
  await aliceEngine.flush();
  await until(async () => (await bobEngine.messages(groupId)).some((m) => m.text === 'pushed to bob'));
  expect(wakeups).toBeGreaterThanOrEqual(2);
  expect((await bobEngine.messages(groupId)).map((m) => m.text)).toEqual(['pushed to bob']);
});

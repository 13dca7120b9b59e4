import { WebSocket as NodeWebSocket } from 'ws';
import { startDeliveryRunner } from '../../src/background/delivery-runner';
import { watchRepos, type WebSocketConstructor } from '../../src/atproto/firehose';
import { createIdentityResolver } from '../../src/atproto/identity';
import type { PollReport } from '../../src/engine/inbox';
import { newTid } from '../../src/engine/tid';
import { EVENT_COLLECTION_NSID } from '../../src/protocol/records';
import { repeat, type Sample } from '../lib/measure';
import type { World } from './world';

const TEXT = 'latency probe: a short message of about the size people send';
const WebSocketImpl = ((globalThis as { WebSocket?: unknown }).WebSocket ?? NodeWebSocket) as WebSocketConstructor;

/**
 * Poll mode: alice sends and publishes (sendText + flush: the event is in her repo when flush
 * returns), then bob polls once and has the decrypted message. Bob polls right away, which is
 * the best case of poll mode: a poll timer adds up to its interval on top.
 */
export async function pollLatency(world: World, runs: number): Promise<Sample> {
  const { alice, bob, groupId } = world;
  return repeat(runs, async () => {
    await alice.engine.sendText(groupId, TEXT);
    await alice.engine.flush();
    const report = await bob.engine.poll([alice.account.did]);
    if (!report.outcomes.some((o) => o.kind === 'message')) throw new Error('bob read no message');
  });
}

/**
 * Push mode: bob runs the background's delivery runner with the PDS firehose as wake-up (poll
 * timer an hour, so only the push can wake it). Timed from alice's send to bob's runner
 * reporting the decrypted message.
 */
export async function pushLatency(world: World, runs: number): Promise<Sample> {
  const { alice, bob, groupId, network } = world;
  const identity = createIdentityResolver({ plcUrl: network.plcUrl });
  let waiting: ((report: PollReport) => void) | undefined;
  const runner = startDeliveryRunner({
    engine: bob.engine,
    contacts: () => [bob.account.did, alice.account.did],
    pdsOf: async (did) => (await identity.resolveDid(did)).pds,
    watch: (pdsUrl, dids, onChange, onClosed) =>
      watchRepos({ serviceUrl: pdsUrl, dids, collection: EVENT_COLLECTION_NSID, onChange: (did, collections, rkeys) => onChange(did, collections, rkeys), onError: onClosed, WebSocketImpl }),
    pollIntervalMs: 3600_000,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    onPolled: (report) => waiting?.(report),
  });
  try {
    await runner.kick(); // opens the stream
    await new Promise((resolve) => setTimeout(resolve, 500));
    return await repeat(runs, async () => {
      const arrived = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no push within 10 s')), 10_000);
        waiting = (report) => {
          if (report.outcomes.some((o) => o.kind === 'message')) {
            clearTimeout(timer);
            waiting = undefined;
            resolve();
          }
        };
      });
      await alice.engine.sendText(groupId, TEXT);
      await alice.engine.flush();
      await arrived;
    });
  } finally {
    runner.stop();
  }
}

/**
 * The reference: the same kind of record (alice's last event, same bytes) written with a bare
 * com.atproto.repo.putRecord and read back with an unauthenticated com.atproto.repo.getRecord.
 */
export async function barePdsRoundTrip(world: World, runs: number): Promise<Sample> {
  const { alice, network } = world;
  const [latest] = await alice.deps.publicRepos.listRecords(alice.account.did, EVENT_COLLECTION_NSID, { max: 1 });
  if (!latest) throw new Error('alice has no event to copy');
  const record = latest.value as Record<string, unknown>;
  return repeat(runs, async () => {
    const rkey = newTid();
    await alice.agent.com.atproto.repo.putRecord({ repo: alice.account.did, collection: EVENT_COLLECTION_NSID, rkey, record });
    const url = `${network.pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${encodeURIComponent(alice.account.did)}&collection=${EVENT_COLLECTION_NSID}&rkey=${rkey}`;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`getRecord ${res.status}`);
    await res.json();
  });
}

/** The JSON size of alice's latest event record as the PDS stores and serves it. */
export async function eventRecordBytes(world: World): Promise<number> {
  const [latest] = await world.alice.deps.publicRepos.listRecords(world.alice.account.did, EVENT_COLLECTION_NSID, { max: 1 });
  if (!latest) throw new Error('alice has no event');
  return new TextEncoder().encode(JSON.stringify(latest.value)).length;
}

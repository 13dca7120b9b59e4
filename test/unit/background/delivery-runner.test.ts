import { describe, expect, it } from 'vitest';
import { startDeliveryRunner, type DeliveryRunner } from '../../../src/background/delivery-runner';
import type { DeliveryEngine } from '../../../src/engine/delivery-engine';
import type { PollOptions, PollReport } from '../../../src/engine/inbox';
import { DEVICE_COLLECTION_NSID, EVENT_COLLECTION_NSID } from '../../../src/protocol/records';

// The runner's scheduling over a stand-in engine (the engine's use cases have their own tests):
// which rounds read which repos, and when the full poll comes.

const ME = 'did:plc:meeeeeeeeeeeeeeeeeeeeeee';
const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb';
const PDS = 'https://pds.example';
const INTERVAL = 60_000;

const EMPTY: PollReport = { processed: 0, outcomes: [], unreachable: [] };

function harness(options: { firstRoundDelayMs?: number } = {}) {
  const polls: Array<string[] | 'all'> = [];
  const hints: Array<Record<string, string>> = [];
  const calls: string[] = [];
  let gate: Promise<void> | undefined;
  const state = { time: 0, timerMs: [] as number[], timers: [] as Array<() => void>, maintained: 0 };
  const contacts = [ME, A, B];
  const engine = {
    flush: async () => {
      calls.push('flush');
      return { published: [], deferred: [], failed: [] };
    },
    poll: async (_contacts: readonly string[] = [], options: PollOptions = {}) => {
      calls.push('poll');
      polls.push(options.only === undefined ? 'all' : [...options.only].sort());
      hints.push(Object.fromEntries(options.startAt ?? []));
      await gate;
      return EMPTY;
    },
    maintain: async () => {
      state.maintained++;
    },
    groups: async () => [],
    noteRepoChanged: () => {},
    nextDueAt: () => undefined,
  } as unknown as DeliveryEngine;
  let onChange: ((did: string, collections?: readonly string[], rkeys?: readonly string[]) => void) | undefined;
  const runner: DeliveryRunner = startDeliveryRunner({
    engine,
    contacts: () => contacts,
    pdsOf: async () => PDS,
    watch: (_pds, _dids, change) => {
      onChange = change;
      return { close() {} };
    },
    pollIntervalMs: INTERVAL,
    ...options,
    now: () => state.time,
    setTimer: (fn, ms) => {
      state.timerMs.push(ms);
      state.timers.push(fn);
      return ms;
    },
    clearTimer: () => {},
  });
  return {
    runner,
    contacts,
    polls,
    hints,
    calls,
    state,
    wake: (did: string, collections?: readonly string[], rkeys?: readonly string[]) => onChange!(did, collections, rkeys),
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
    settled: async () => {
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    },
  };
}

describe('the delivery runner', () => {
  it('starts with a full round; a firehose wake-up reads only the repo that changed', async () => {
    const h = harness();
    await h.settled();
    expect(h.polls).toEqual(['all']);
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    expect(h.polls).toEqual(['all', [A]]);
    // A frame that cannot say what changed (tooBig, #sync) may hold events too.
    h.wake(B);
    await h.settled();
    expect(h.polls).toEqual(['all', [A], [B]]);
    h.runner.stop();
  });

  it('with a first-round delay, starts the full round when the timer fires, or at once when kicked', async () => {
    const timed = harness({ firstRoundDelayMs: 1000 });
    await timed.settled();
    expect(timed.polls).toEqual([]);
    expect(timed.state.timerMs).toEqual([1000]);
    timed.state.timers[0]!();
    await timed.settled();
    expect(timed.polls).toEqual(['all']);
    timed.runner.stop();

    const kicked = harness({ firstRoundDelayMs: 1000 });
    await kicked.settled();
    await kicked.runner.kick(); // e.g. the alarm woke the worker
    expect(kicked.polls).toEqual(['all']);
    kicked.runner.stop();
  });

  it('after a new contact, the next round reads every repo whatever woke it', async () => {
    const h = harness();
    await h.settled();
    const C = 'did:plc:cccccccccccccccccccccccc';
    h.contacts.push(C); // e.g. the panel listed a conversation's members
    h.wake(ME, [EVENT_COLLECTION_NSID]);
    await h.settled();
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    expect(h.polls).toEqual(['all', 'all', [A]]);
    h.runner.stop();
  });

  it('a wake-up for device or key-package records reads no events; maintenance runs', async () => {
    const h = harness();
    await h.settled();
    const maintained = h.state.maintained;
    h.wake(A, [DEVICE_COLLECTION_NSID]);
    await h.settled();
    expect(h.polls).toEqual(['all', []]);
    expect(h.state.maintained).toBe(maintained + 1);
    h.runner.stop();
  });

  it('a narrowed round delivers before it publishes; a full round publishes first', async () => {
    const h = harness();
    await h.settled();
    expect(h.calls.slice(0, 2)).toEqual(['flush', 'poll']);
    h.calls.length = 0;
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    expect(h.calls).toEqual(['poll', 'flush']);
    h.runner.stop();
  });

  it('wake-ups during a round collapse into one more round over all the repos they named', async () => {
    const h = harness();
    await h.settled();
    const release = h.hold();
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    h.wake(B, [EVENT_COLLECTION_NSID]);
    h.wake(ME, [EVENT_COLLECTION_NSID]);
    h.wake(B, [EVENT_COLLECTION_NSID]);
    release();
    await h.settled();
    expect(h.polls).toEqual(['all', [A], [B, ME].sort()]);
    h.runner.stop();
  });

  it('a kick during narrowed rounds makes the next round a full one', async () => {
    const h = harness();
    await h.settled();
    const release = h.hold();
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    h.wake(B, [EVENT_COLLECTION_NSID]);
    void h.runner.kick();
    release();
    await h.settled();
    expect(h.polls).toEqual(['all', [A], 'all']);
    h.runner.stop();
  });

  it('wake-ups do not postpone the full poll: it comes pollIntervalMs after the last full round', async () => {
    const h = harness();
    await h.settled();
    expect(h.state.timerMs.at(-1)).toBe(INTERVAL);
    h.state.time = 45_000;
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    expect(h.state.timerMs.at(-1)).toBe(INTERVAL - 45_000);
    h.state.time = 70_000; // overdue (e.g. the worker was suspended): at once
    h.wake(A, [EVENT_COLLECTION_NSID]);
    await h.settled();
    expect(h.state.timerMs.at(-1)).toBe(0);
    void h.runner.kick();
    await h.settled();
    expect(h.state.timerMs.at(-1)).toBe(INTERVAL);
    h.runner.stop();
  });

  it('hands the engine the lowest event key the frames named, per repo; none when a frame could not say', async () => {
    const h = harness();
    await h.settled();
    const release = h.hold();
    h.wake(ME, [EVENT_COLLECTION_NSID], ['3lc5555555555']);
    await h.settled();
    h.wake(A, [EVENT_COLLECTION_NSID], ['3lc5555555555']);
    h.wake(A, [EVENT_COLLECTION_NSID], ['3lc6666666666', '3lc4444444444']);
    h.wake(B, [EVENT_COLLECTION_NSID], ['3lc4444444444']);
    h.wake(B); // a tooBig commit or a #sync: anything may have changed
    h.wake(B, [EVENT_COLLECTION_NSID], ['3lc3333333333']);
    release();
    await h.settled();
    expect(h.polls.slice(1)).toEqual([[ME], [A, B].sort()]);
    expect(h.hints.slice(1)).toEqual([{ [ME]: '3lc5555555555' }, { [A]: '3lc4444444444' }]);
    h.runner.stop();
  });

  it('a frame that only deleted event records starts no round', async () => {
    const h = harness();
    await h.settled();
    h.wake(A, [EVENT_COLLECTION_NSID], []);
    await h.settled();
    expect(h.polls).toEqual(['all']);
    h.runner.stop();
  });
});

import { describe, expect, inject as viInject, it } from 'vitest';
import type { GroupProgress } from '../../src/engine/groups';
import { newTid } from '../../src/engine/tid';
import { resumeCreationSession, uniqueName } from '../net/accounts';
import { attachNetwork } from '../net/remote';
import { deliveryEngineFor, startDevice } from './device-harness';

// Turning encryption on for a big conversation takes a while (each person's devices are looked
// up and proven, then one invite is sealed per device): the engine says how far it got, in
// counts only, for the panel's progress bar.

const net = attachNetwork(viInject('network'));

describe('creating a group reports its progress', () => {
  it('one step per person looked up, then one per invite sealed, tagged with the conversation', async () => {
    const [alice, bob, carol] = await Promise.all(['prgalice', 'prgbob', 'prgcarol'].map((n) => net.createAccount(uniqueName(n))));
    const agent = async (a: typeof alice) => resumeCreationSession(net.pdsUrl, a!);
    // alice has a second device, bob two, carol one: four invites from alice's first device.
    const [alice1] = await Promise.all([
      agent(alice).then((a) => startDevice('prg-alice1', a, alice!.did, net.plcUrl)),
      agent(alice).then((a) => startDevice('prg-alice2', a, alice!.did, net.plcUrl)),
      agent(bob).then((a) => startDevice('prg-bob1', a, bob!.did, net.plcUrl)),
      agent(bob).then((a) => startDevice('prg-bob2', a, bob!.did, net.plcUrl)),
      agent(carol).then((a) => startDevice('prg-carol1', a, carol!.did, net.plcUrl)),
    ]);
    const seen: Array<GroupProgress & { convoId?: string }> = [];
    const { engine } = await deliveryEngineFor(alice1!, `progress-${newTid()}`, {}, { onGroupProgress: (p) => seen.push(p) });

    const group = await engine.createGroup([bob!.did, carol!.did], '3kprogressconvo');

    const steps = (phase: GroupProgress['phase'], total: number) =>
      Array.from({ length: total + 1 }, (_, done) => ({ convoId: '3kprogressconvo', phase, done, total }));
    expect(seen).toEqual([...steps('devices', 3), ...steps('invites', 4)]);
    // What was counted is what was done: four devices besides this one are in the group.
    expect(group.memberDids).toEqual([alice!.did, bob!.did, carol!.did].sort());
    // Counts only: nothing else travels with a progress report.
    for (const p of seen) expect(Object.keys(p).sort()).toEqual(['convoId', 'done', 'phase', 'total']);
  });
});

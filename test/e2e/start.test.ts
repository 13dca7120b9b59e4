import { spawn } from 'node:child_process';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import type { PanelSummary } from './product';

// `npm start` = set-up + build + scripts/demo.ts. The set-up and build are what `npm test` just
// did, so this runs the demo itself, once, and checks what it did: both profiles signed in, and
// each panel showed the other's message decrypted. What the panels showed comes from the
// summary the demo writes from their DOM, not from its log lines.
const root = resolve(import.meta.dirname, '../..');
const shots = join(root, 'test-results', 'start');

interface Summary {
  convoId: string;
  alice: { did: string; signedInAs: string; panel: PanelSummary };
  bob: { did: string; signedInAs: string; panel: PanelSummary };
}

it('npm start signs alice and bob in on two Chromium profiles, encrypts their conversation and exchanges a message each way', async () => {
  const started = Date.now();
  // A summary left by an earlier run must not pass for this one.
  rmSync(join(shots, 'summary.json'), { force: true });
  const child = spawn('npx', ['tsx', 'scripts/demo.ts', '--once'], { cwd: root, env: { ...process.env, DISPLAY: '' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  expect(code, out).toBe(0);
  expect(out).toMatch(/PLC http:\/\/localhost:\d+ {2}PDS http:\/\/localhost:\d+/);
  for (const name of ['alice', 'bob', 'carol']) expect(out).toContain(`account ${name}.test`);
  expect(out).toContain('Chromium (headless): profiles alice and bob');
  expect(out).toContain('alice: signed in, the popup shows @alice.test');
  expect(out).toContain('bob: signed in, the popup shows @bob.test');

  const summary = JSON.parse(readFileSync(join(shots, 'summary.json'), 'utf8')) as Summary;
  expect(summary.alice.signedInAs).toBe('@alice.test');
  expect(summary.bob.signedInAs).toBe('@bob.test');
  // alice's device created the group; bob's joined it from her invite, and his panel says so.
  expect(summary.alice.panel.joinedNotice).toBeNull();
  expect(summary.bob.panel.joinedNotice).toContain('This device joined the encrypted conversation on');
  for (const [me, other] of [
    [summary.alice, summary.bob],
    [summary.bob, summary.alice],
  ] as const) {
    // Encrypted, with this profile's device in the group and nothing failing.
    expect(me.panel).toMatchObject({
      status: `Conversation ${summary.convoId}: encryption on`,
      joined: true,
      composer: true,
      signedOut: false,
      sendError: null,
      viewError: null,
    });
    // What the other one sent (their own message in their panel) is shown here as theirs.
    const sent = other.panel.messages.filter((m) => m.own === 'true');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ status: 'sent', text: expect.stringMatching(/\S/) });
    expect(me.panel.messages).toContainEqual({ own: 'false', status: 'sent', text: sent[0]!.text });
    // Both people's devices are members of the one group.
    expect(me.panel.members.map((m) => [m.did, m.devices > 0]).sort()).toEqual(
      [
        [summary.alice.did, true],
        [summary.bob.did, true],
      ].sort(),
    );
  }

  for (const shot of ['alice.png', 'bob.png']) {
    const file = join(shots, shot);
    expect(out).toContain(file);
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(started);
    expect(statSync(file).size).toBeGreaterThan(5_000);
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
  }
}, 180_000);

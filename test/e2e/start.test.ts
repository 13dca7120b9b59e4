import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

// `npm start` = set-up + build + scripts/demo.ts. The set-up and build are what `npm test` just
// did, so this runs the demo itself, once, and checks it brought up the network and the browser.
const root = resolve(import.meta.dirname, '../..');

it('npm start brings up the network, the demo accounts and Chromium on the replica', async () => {
  const started = Date.now();
  const child = spawn('npx', ['tsx', 'scripts/demo.ts', '--once'], { cwd: root, env: { ...process.env, DISPLAY: '' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  expect(code, out).toBe(0);
  expect(out).toMatch(/PLC http:\/\/localhost:\d+ {2}PDS http:\/\/localhost:\d+/);
  for (const name of ['alice', 'bob', 'carol']) expect(out).toContain(`account ${name}.test`);
  expect(out).toMatch(/Chromium \(headless\) is on https:\/\/bsky\.app\/messages\/\w+/);
  for (const shot of ['01-conversation.png', '02-panel-open.png']) {
    const file = join(root, 'test-results', 'start', shot);
    expect(out).toContain(file);
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(started);
    expect(statSync(file).size).toBeGreaterThan(5_000);
  }
}, 120_000);

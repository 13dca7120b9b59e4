/**
 * `npm run bench` (`-- --quick` for a short subset): one table of medians over repeated runs.
 * Each row: our figure, a reference measured in the same run, the ratio, the target.
 * Node rows: the engine (fake-indexeddb) and the real local PDS. Browser rows: Debian's
 * Chromium, headless (bench/browser). Results also go to test-results/bench.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTable, type Row } from './lib/table';
import { barePdsRoundTrip, pollLatency, pushLatency } from './node/latency';
import { pipelineRoundTrip, rawTsMlsRoundTrip } from './node/pipeline';
import { startWorld } from './node/world';
import { contentScriptRows } from './node/bundle';
import { browserRows } from './browser/run';
import { stateRows } from './node/state';
import { storageRows } from './node/storage';
import { extensionRows } from './browser/extension';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const want = (section: string) => !only || only.includes(section);

async function main(): Promise<void> {
  const rows: Row[] = [];
  const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

  if (want('pipeline') || want('latency') || want('storage')) {
    log('starting the local PLC + PDS and two devices');
    const world = await startWorld();
    try {
      if (want('pipeline')) {
        log('message pipeline');
        const runs = quick ? 15 : 60;
        const ours = await pipelineRoundTrip(world, runs);
        const raw = await rawTsMlsRoundTrip(runs, 'ts-mls default suite');
        const rawOurSuite = await rawTsMlsRoundTrip(runs, 'our suite');
        rows.push({
          section: 'message (Node)',
          what: 'send + receive, full pipeline incl. IndexedDB (fake-indexeddb)',
          ours,
          unit: 'ms',
          reference: { name: 'raw ts-mls encrypt+decrypt', value: raw },
          target: { ratio: 1.15 },
        });
        rows.push({
          section: 'message (Node)',
          what: 'same, against raw ts-mls with our suite (cached signing keys)',
          ours,
          unit: 'ms',
          reference: { name: 'raw ts-mls, our suite', value: rawOurSuite },
          target: { ratio: 1.15 },
        });
      }
      if (want('latency')) {
        log('end-to-end latency over the local PDS');
        const runs = quick ? 8 : 30;
        const bare = await barePdsRoundTrip(world, runs);
        const poll = await pollLatency(world, runs);
        const push = await pushLatency(world, runs);
        rows.push({ section: 'latency (Node, local PDS)', what: 'send to decrypted, poll mode (reader polls at once)', ours: poll, unit: 'ms', reference: { name: 'bare putRecord+getRecord', value: bare }, target: { ratio: 1.25 } });
        rows.push({ section: 'latency (Node, local PDS)', what: 'send to decrypted, push mode (firehose wake-up)', ours: push, unit: 'ms', reference: { name: 'bare putRecord+getRecord', value: bare }, target: { ratio: 1.25 } });
      }
      if (want('storage')) {
        log('IndexedDB bytes per group and per message');
        rows.push(...(await storageRows(world, { groups: quick ? 5 : 20, messages: quick ? 20 : 100 })));
      }
    } finally {
      await world.close();
    }
  }
  if (want('state')) {
    log('group state codec and size');
    rows.push(...(await stateRows(quick ? [2, 100] : [2, 100, 1000], quick ? 5 : 15)));
  }
  if (want('browser')) {
    log('group operations in Chromium');
    rows.push(...(await browserRows({ quick, log })));
  }
  if (want('worker') || want('content')) {
    log('the built extension in Chromium (worker start-up, storage, content script)');
    rows.push(...(await extensionRows({ quick, worker: want('worker'), content: want('content'), log })));
  }
  if (want('bundle')) rows.push(...contentScriptRows());

  const table = renderTable(rows);
  process.stdout.write(`\n${table}\n`);
  const out = join(process.cwd(), 'test-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'bench.json'), JSON.stringify({ when: new Date().toISOString(), quick, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

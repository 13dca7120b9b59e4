import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNetwork } from '../net/network';

/**
 * Starts one real PLC + PDS + chat stand-in for the whole integration run and hands its
 * coordinates to the test files (inject('network')). Files share it, so each file creates
 * accounts with its own unique names (uniqueName in test/net/accounts.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The PDS and anything else that writes under os.tmpdir() get a directory of their own for
  // this run, removed at teardown even if something forgot to clean up after itself.
  const previousTmpdir = process.env.TMPDIR;
  const runTmp = await mkdtemp(join(tmpdir(), 'atm-integration-'));
  process.env.TMPDIR = runTmp;

  const restoreTmp = async (): Promise<void> => {
    if (previousTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmpdir;
    await rm(runTmp, { recursive: true, force: true });
  };

  let network: Awaited<ReturnType<typeof startNetwork>>;
  try {
    network = await startNetwork();
  } catch (err) {
    await restoreTmp();
    throw err;
  }
  project.provide('network', network.info());

  return async () => {
    await network.close();
    await restoreTmp();
  };
}

// Machine set-up shared by `npm test` and `npm start`: Node built-ins only, because it runs
// before dependencies exist. Each step is skipped when already done, so repeated runs are fast.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(import.meta.url), '../../..');

export function log(message) {
  process.stdout.write(`\n[atmessaging] ${message}\n`);
}

export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
  }
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new Error(`Node >= 20.19 is required (found ${process.versions.node})`);
  }
}

/**
 * `npm ci` whenever package-lock.json or a patch under patches/ (applied by patch-package in
 * `postinstall`) changed since the last install, or nothing is installed.
 */
export function ensureDependencies() {
  const hash = createHash('sha256').update(readFileSync(join(root, 'package-lock.json')));
  const patches = join(root, 'patches');
  if (existsSync(patches)) {
    for (const name of readdirSync(patches).sort()) hash.update(name).update(readFileSync(join(patches, name)));
  }
  const digest = hash.digest('hex');
  const stamp = join(root, 'node_modules', '.atmessaging-lock.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  log('installing dependencies (npm ci; better-sqlite3 compiles from source, about a minute)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(stamp, digest);
}

/** Debian's Chromium and Firefox ESR (the test tools cannot download browsers of their own). */
export function ensureBrowsers({ firefox = true } = {}) {
  const missing = [];
  if (!has('chromium')) missing.push('chromium');
  if (firefox && !has('firefox-esr')) missing.push('firefox-esr');
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? [] : has('sudo') ? ['sudo'] : undefined;
  if (!sudo) {
    throw new Error(`please install ${missing.join(' ')} (apt-get install -y ${missing.join(' ')})`);
  }
  log(`installing ${missing.join(' and ')} from Debian (about 3 minutes)`);
  const apt = (args) =>
    run(sudo[0] ?? 'apt-get', sudo.length ? ['apt-get', ...args] : args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  apt(['update']);
  apt(['install', '-y', ...missing]);
}

/** Production builds and store zips for Chrome (MV3) and Firefox (MV2). */
export function buildExtension() {
  log('building the extension for Chrome and Firefox');
  run('npx', ['wxt', 'zip']);
  run('npx', ['wxt', 'zip', '-b', 'firefox']);
}

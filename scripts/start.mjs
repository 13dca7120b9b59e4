// `npm start`: set up the machine (dependencies, Debian's Chromium), build the extension, then
// run the demo (scripts/demo.ts): local network, demo accounts, bsky.app replica, alice and bob in Chromium.
import { spawnSync } from 'node:child_process';
import { buildExtension, checkNode, ensureBrowsers, ensureDependencies, log, root } from './lib/setup.mjs';

checkNode();
ensureDependencies();
ensureBrowsers({ firefox: false });
buildExtension();
log('starting the local network and two browser profiles');
const demo = spawnSync('npx', ['tsx', 'scripts/demo.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(demo.status ?? 1);

// Vendors the official lexicons of the XRPC methods the extension calls (and every lexicon they
// reference) into lexicons/, byte for byte as bluesky-social/atproto has them at one commit, and
// records that commit and each file's SHA-256 in lexicons/UPSTREAM.md. `npm run lexgen` then
// generates src/lexicons/ from them, so the shipped bundle carries these schemas only, not the
// whole app.bsky / chat.bsky / tools.ozone namespace (see docs/performance.md, change 15).
// test/unit/protocol/lexicons.test.ts fails when the files drift from that record.
//
//   npm run lexicons:import -- <a clone of github.com/bluesky-social/atproto> [<commit>]
//
// The clone may be bare; <commit> defaults to its HEAD. Only JSON is copied, never code.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXTERNAL_LEXICON_ROOTS, UPSTREAM_TABLE_HEADER, lexiconClosure, lexiconPath } from './lib/external-lexicons.mjs';

const [repo, rev = 'HEAD'] = process.argv.slice(2);
if (!repo) {
  console.error('usage: npm run lexicons:import -- <bluesky-social/atproto clone> [<commit>]');
  process.exit(2);
}
const git = (...args) => execFileSync('git', ['-C', repo, ...args], { maxBuffer: 64 << 20 });
const commit = git('rev-parse', '--verify', `${rev}^{commit}`).toString().trim();

const bytes = new Map();
const read = (nsid) => {
  const path = lexiconPath(nsid);
  try {
    bytes.set(path, git('show', `${commit}:lexicons/${path}`));
  } catch {
    return undefined;
  }
  return JSON.parse(bytes.get(path).toString('utf8'));
};
const ids = lexiconClosure(EXTERNAL_LEXICON_ROOTS, read);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lexicons = join(root, 'lexicons');
// Official files no longer in the closure go; ours (org/atmessaging) stay.
const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
for (const file of walk(lexicons)) {
  const path = relative(lexicons, file);
  if (path.endsWith('.json') && !path.startsWith('org/atmessaging/')) rmSync(file);
}

const rows = [];
for (const id of ids) {
  const path = lexiconPath(id);
  const data = bytes.get(path);
  mkdirSync(dirname(join(lexicons, path)), { recursive: true });
  writeFileSync(join(lexicons, path), data);
  rows.push(`| \`${createHash('sha256').update(data).digest('hex')}\` | \`${path}\` |`);
}
const prune = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) prune(join(dir, e.name));
  if (dir !== lexicons && readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
};
prune(lexicons);

writeFileSync(
  join(lexicons, 'UPSTREAM.md'),
  `# Official lexicons, vendored

Every \`.json\` file here outside \`org/atmessaging/\` is a byte-for-byte copy of
[bluesky-social/atproto](https://github.com/bluesky-social/atproto)'s \`lexicons/\` at one commit:
the lexicons of the XRPC methods the extension calls (\`EXTERNAL_LEXICON_ROOTS\` in
\`scripts/lib/external-lexicons.mjs\`) and everything they reference. Written by
\`scripts/import-lexicons.mjs\`; \`test/unit/protocol/lexicons.test.ts\` fails when a file drifts
from the hash below, or when a file is missing or extra.

To re-vendor (after \`git clone https://github.com/bluesky-social/atproto\`):

    npm run lexicons:import -- ../atproto [<commit>]

It rewrites these files and this record, then regenerates \`src/lexicons/\` (\`npm run lexgen\`).

Commit: \`${commit}\`

${UPSTREAM_TABLE_HEADER}
| --- | --- |
${rows.join('\n')}
`,
);
console.log(`${ids.length} lexicons from ${commit}: ${ids.join(', ')}`);
execFileSync('npm', ['run', 'lexgen'], { cwd: root, stdio: 'inherit' });

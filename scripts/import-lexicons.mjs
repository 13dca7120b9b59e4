// Writes the official lexicons of the XRPC methods the extension calls (and every lexicon they
// reference) into lexicons/, as JSON, from the schemas @atproto/api ships. `npm run lexgen` then
// generates src/lexicons/ from them, so the shipped bundle carries these schemas only, not the
// whole app.bsky / chat.bsky / tools.ozone namespace (see docs/performance.md, change 15).
// test/unit/atproto/lexicons.test.ts fails when these files drift from @atproto/api's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXTERNAL_LEXICON_ROOTS, externalLexicons } from './lib/external-lexicons.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docs = await externalLexicons(EXTERNAL_LEXICON_ROOTS);
for (const doc of docs) {
  const path = join(root, 'lexicons', ...doc.id.split('.')) + '.json';
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
}
console.log(`${docs.length} lexicons written: ${docs.map((d) => d.id).join(', ')}`);

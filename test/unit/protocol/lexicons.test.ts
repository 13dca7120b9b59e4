import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lexicons } from '@atproto/lexicon';
import {
  EXTERNAL_LEXICON_ROOTS,
  lexiconClosure,
  lexiconPath,
  parseUpstreamRecord,
} from '../../../scripts/lib/external-lexicons.mjs';

const root = resolve(import.meta.dirname, '../../..');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const lexiconFiles = () => files(join(root, 'lexicons')).filter((f) => f.endsWith('.json'));

describe('lexicons/', () => {
  const docs = lexiconFiles().map((f) => JSON.parse(readFileSync(f, 'utf8')));

  it('are valid lexicon documents whose ids match their paths', () => {
    const lex = new Lexicons();
    // (a clone: add() rewrites the refs of what it is given)
    for (const doc of docs) lex.add(structuredClone(doc)); // throws on an invalid document
    expect(docs.map((d) => d.id).filter((id) => id.startsWith('org.atmessaging.')).sort()).toEqual([
      'org.atmessaging.device',
      'org.atmessaging.event',
      'org.atmessaging.keyPackage',
    ]);
    for (const f of lexiconFiles()) {
      const id = JSON.parse(readFileSync(f, 'utf8')).id as string;
      expect(relative(join(root, 'lexicons'), f)).toBe(`${id.replaceAll('.', '/')}.json`);
    }
  });

  // Re-vendor with `npm run lexicons:import -- <bluesky-social/atproto clone> [<commit>]`
  // (lexicons/UPSTREAM.md says how): it copies upstream's files byte for byte, rewrites the
  // record, and regenerates src/lexicons. Offline: the hashes were taken from upstream's bytes.
  it('besides ours, are byte for byte the upstream files recorded in lexicons/UPSTREAM.md', () => {
    const record = parseUpstreamRecord(readFileSync(join(root, 'lexicons/UPSTREAM.md'), 'utf8'));
    const official = lexiconFiles()
      .map((f) => relative(join(root, 'lexicons'), f))
      .filter((path) => !path.startsWith('org/atmessaging/'))
      .sort();
    expect(official).toEqual([...record.files.keys()].sort());
    for (const path of official) {
      const sha256 = createHash('sha256').update(readFileSync(join(root, 'lexicons', path))).digest('hex');
      expect(sha256, `lexicons/${path} differs from bluesky-social/atproto@${record.commit}`).toBe(record.files.get(path));
    }
  });

  it('are the methods we call and everything they reference, nothing more', () => {
    const closure = lexiconClosure(EXTERNAL_LEXICON_ROOTS, (nsid) => docs.find((d) => d.id === nsid));
    expect(closure.map(lexiconPath).sort()).toEqual(
      [...parseUpstreamRecord(readFileSync(join(root, 'lexicons/UPSTREAM.md'), 'utf8')).files.keys()].sort(),
    );
  });

  it('match the generated TypeScript in src/lexicons (run `npm run lexgen` after editing)', () => {
    const out = mkdtempSync(join(tmpdir(), 'atm-lexgen-'));
    try {
      execFileSync(
        'npx',
        ['lex', 'build', '--lexicons', 'lexicons', '--out', out, '--clear', '--indexFile', '--pure-annotations', '--importExt', ''],
        { cwd: root, stdio: 'pipe' },
      );
      const generated = files(out).map((f) => relative(out, f)).sort();
      const committed = files(join(root, 'src/lexicons')).map((f) => relative(join(root, 'src/lexicons'), f)).sort();
      expect(committed).toEqual(generated);
      for (const f of generated) {
        expect(readFileSync(join(root, 'src/lexicons', f), 'utf8'), f).toBe(readFileSync(join(out, f), 'utf8'));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lexicons } from '@atproto/lexicon';
import { EXTERNAL_LEXICON_ROOTS, externalLexicons } from '../../../scripts/lib/external-lexicons.mjs';

const root = resolve(import.meta.dirname, '../../..');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('lexicons/', () => {
  const docs = files(join(root, 'lexicons')).map((f) => JSON.parse(readFileSync(f, 'utf8')));

  it('are valid lexicon documents whose ids match their paths', () => {
    const lex = new Lexicons();
    // (a clone: add() rewrites the refs of what it is given)
    for (const doc of docs) lex.add(structuredClone(doc)); // throws on an invalid document
    expect(docs.map((d) => d.id).filter((id) => id.startsWith('org.atmessaging.')).sort()).toEqual([
      'org.atmessaging.device',
      'org.atmessaging.event',
      'org.atmessaging.keyPackage',
    ]);
    for (const f of files(join(root, 'lexicons'))) {
      const id = JSON.parse(readFileSync(f, 'utf8')).id as string;
      expect(relative(join(root, 'lexicons'), f)).toBe(`${id.replaceAll('.', '/')}.json`);
    }
  });

  it('besides ours, are exactly the official ones @atproto/api ships for the methods we call and what they reference', async () => {
    const expected = await externalLexicons(EXTERNAL_LEXICON_ROOTS);
    const official = docs.filter((d) => !d.id.startsWith('org.atmessaging.')).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(official.map((d) => d.id)).toEqual(expected.map((d) => d.id));
    // Byte for byte what `npm run lexicons:import` writes: an @atproto/api upgrade shows here.
    for (const doc of expected) expect(official.find((d) => d.id === doc.id), doc.id).toEqual(doc);
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

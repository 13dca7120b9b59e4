import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lexicons } from '@atproto/lexicon';

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
    for (const doc of docs) lex.add(doc); // throws on an invalid document
    expect(docs.map((d) => d.id).sort()).toEqual([
      'org.atmessaging.device',
      'org.atmessaging.event',
      'org.atmessaging.keyPackage',
    ]);
    for (const f of files(join(root, 'lexicons'))) {
      const id = JSON.parse(readFileSync(f, 'utf8')).id as string;
      expect(relative(join(root, 'lexicons'), f)).toBe(`${id.replaceAll('.', '/')}.json`);
    }
  });

  it('match the generated TypeScript in src/lexicons (run `npm run lexgen` after editing)', () => {
    const out = mkdtempSync(join(tmpdir(), 'atm-lexgen-'));
    try {
      execFileSync(
        'npx',
        ['lex', 'build', '--lexicons', 'lexicons', '--out', out, '--clear', '--indexFile', '--importExt', ''],
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

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// web-ext's programmatic API runs Mozilla's addons-linter, as AMO does on upload.
import webExt from 'web-ext';

const root = resolve(import.meta.dirname, '../..');
const chromeDir = join(root, '.output/chrome-mv3');
const firefoxDir = join(root, '.output/firefox-mv2');

type Manifest = Record<string, any>;
const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? allFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

// These read what `npm test` built (scripts/test.mjs runs `wxt zip` for both browsers first).
describe('built extension packages', () => {
  it('both builds and both store zips exist', () => {
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
    expect(existsSync(join(chromeDir, 'manifest.json'))).toBe(true);
    expect(existsSync(join(firefoxDir, 'manifest.json'))).toBe(true);
    expect(existsSync(join(root, `.output/atmessaging-${version}-chrome.zip`))).toBe(true);
    expect(existsSync(join(root, `.output/atmessaging-${version}-firefox.zip`))).toBe(true);
  });

  it('web-ext lint reports 0 errors on the Firefox build', async () => {
    const result = await webExt.cmd.lint(
      { sourceDir: firefoxDir, output: 'json', selfHosted: false, boring: true },
      { shouldExitProgram: false },
    );
    expect(result.errors).toEqual([]);
    expect(result.summary.errors).toBe(0);
  });

  it.each([
    ['chrome', chromeDir],
    ['firefox', firefoxDir],
  ])('%s manifest asks only for the minimal permissions', (_name, dir) => {
    const m = manifest(dir);
    const permissions = [...(m.permissions ?? []), ...(m.host_permissions ?? [])].sort();
    expect(permissions).toEqual(['alarms', 'https://bsky.app/*', 'notifications', 'storage']);
    expect(m.externally_connectable).toBeUndefined();
    expect(m.content_security_policy).toBeUndefined(); // the browsers' strict defaults apply
    expect(m.content_scripts).toEqual([
      expect.objectContaining({ matches: ['https://bsky.app/*'], js: ['content-scripts/bsky.js'] }),
    ]);
  });

  it('exposes only the panel to web pages, and only to bsky.app', () => {
    expect(manifest(chromeDir).web_accessible_resources).toEqual([
      { resources: ['panel.html'], matches: ['https://bsky.app/*'] },
    ]);
    expect(manifest(firefoxDir).web_accessible_resources).toEqual(['panel.html']);
  });

  it.each([
    ['chrome', chromeDir],
    ['firefox', firefoxDir],
  ])('%s background bundles no unresolved-import stub (it would throw at start-up)', (_name, dir) => {
    for (const file of allFiles(dir).filter((f) => f.endsWith('.js'))) {
      expect(readFileSync(file, 'utf8'), file).not.toContain('Could not resolve');
    }
  });

  it.each([
    ['chrome', chromeDir],
    ['firefox', firefoxDir],
  ])('%s build loads no remote code', (_name, dir) => {
    for (const file of allFiles(dir).filter((f) => /\.(html|js)$/.test(f))) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/<script[^>]+src=["']https?:/i);
      expect(text, file).not.toMatch(/import\(["']https?:/);
      expect(text, file).not.toMatch(/importScripts\(["']https?:/);
    }
  });
});

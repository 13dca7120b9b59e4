import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Row } from '../lib/table';

/** The content script's size as built (`npx wxt build` into .output/chrome-mv3). */
export function contentScriptRows(dir = join(process.cwd(), '.output', 'chrome-mv3', 'content-scripts')): Row[] {
  if (!existsSync(dir)) {
    return [{ section: 'content script', what: 'bundle size (run npx wxt build first)', ours: undefined, unit: 'KB', target: { atMost: 10 } }];
  }
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => {
      const bytes = statSync(join(dir, f)).size / 1024;
      const gz = gzipSync(readFileSync(join(dir, f))).length / 1024;
      return {
        section: 'content script',
        what: `${f}, minified (chrome-mv3)`,
        ours: { median: bytes, min: bytes, max: bytes, runs: 1 },
        unit: 'KB' as const,
        target: { atMost: 10 },
        note: `${gz.toFixed(1)} KB gzipped`,
      };
    });
}

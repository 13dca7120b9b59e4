import { defineConfig } from 'wxt';
import preact from '@preact/preset-vite';
import { resolve } from 'node:path';

// The manifest follows from the files in entrypoints/; only what cannot be derived lives here.
// Permissions are the minimum of DESIGN.md's boundary 5: PDS, PLC and AppView calls rely on
// their CORS headers, so the only host we touch with privilege is bsky.app itself.
export default defineConfig({
  srcDir: '.',
  entrypointsDir: 'entrypoints',
  publicDir: 'public',
  outDir: '.output',
  vite: () => ({
    plugins: [preact()],
    resolve: {
      // ts-mls's optional peers for suites we do not use: see src/mls/absent-optional-peer.ts.
      alias: Object.fromEntries(
        [
          '@hpke/chacha20poly1305',
          '@hpke/dhkem-x448',
          '@hpke/hybridkem-x-wing',
          '@hpke/ml-kem',
          '@noble/ciphers/chacha.js',
          '@noble/curves/ed25519.js',
          '@noble/curves/ed448.js',
          '@noble/curves/nist.js',
          '@noble/post-quantum/ml-dsa.js',
        ].map((name) => [name, resolve(import.meta.dirname, 'src/mls/absent-optional-peer.ts')]),
      ),
    },
    build: {
      // Security reviewers read the shipped code: keep it legible and free of eval-ish helpers.
      minify: true,
      sourcemap: false,
    },
  }),
  manifest: ({ browser }) => ({
    name: 'atmessaging',
    description:
      'End-to-end encrypted direct and group messages for bsky.app (MLS over the AT Protocol).',
    permissions: ['storage', 'alarms', 'notifications'],
    host_permissions: ['https://bsky.app/*'],
    // The panel is framed by bsky.app; nothing else of ours is reachable from web pages.
    web_accessible_resources: [
      {
        resources: ['panel.html'],
        matches: ['https://bsky.app/*'],
      },
    ],
    icons: { 16: 'icon/16.png', 32: 'icon/32.png', 48: 'icon/48.png', 128: 'icon/128.png' },
    ...(browser === 'firefox'
      ? {
          browser_specific_settings: {
            gecko: {
              id: 'atmessaging@atmessaging.org',
              strict_min_version: '142.0',
              data_collection_permissions: { required: ['none'] },
            },
          },
        }
      : {}),
  }),
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SelfSignedCert {
  /** PEM private key (P-256). */
  key: string;
  /** PEM certificate, valid for two days, SAN = the given hosts + localhost + 127.0.0.1. */
  cert: string;
}

function opensslPath(): string {
  return existsSync('/usr/bin/openssl') ? '/usr/bin/openssl' : 'openssl';
}

/**
 * A throw-away self-signed certificate made by the system openssl in a fresh temp directory,
 * which is removed as soon as the PEMs are read. Browsers are told to accept it
 * (`--ignore-certificate-errors`, `acceptInsecureCerts`), so it only has to name the hosts.
 */
export async function createSelfSignedCert(hosts: readonly string[] = ['bsky.app']): Promise<SelfSignedCert> {
  const dir = await mkdtemp(join(tmpdir(), 'atm-cert-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const san = [...new Set([...hosts, 'localhost'])].map((h) => `DNS:${h}`).concat('IP:127.0.0.1');
  try {
    await run(opensslPath(), [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${hosts[0] ?? 'localhost'}`,
      '-addext',
      `subjectAltName=${san.join(',')}`,
    ]);
    const [key, cert] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    return { key, cert };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

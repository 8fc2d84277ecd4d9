// Throwaway key material for the registry: a CA-signed server certificate for 127.0.0.1 (TLS) and an RSA signer
// certificate for bearer tokens. Made with the openssl CLI once per process, since key generation is the slow part.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface TokenSigner {
  /** PEM of the self-signed certificate: the registry's rootcertbundle, and (as DER) the JWT x5c header. */
  certPem: string;
  keyPem: string;
}

let serverTls: ServerTls | undefined;
let tokenSigner: TokenSigner | undefined;

/** The process-wide CA and 127.0.0.1 server certificate; throws when openssl is missing or fails. */
export function registryTls(): ServerTls {
  serverTls ??= inTempDir((run, read) => {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '30',
      '-subj',
      '/CN=registry-harness-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
    // Go (the registry, dockerd) ignores the CN: the IP SAN is what makes 127.0.0.1 verify.
    run(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'server.crt',
        '-days',
        '30',
        '-extfile',
        'ext.cnf',
      ],
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
    );
    return { caPem: read('ca.crt'), certPem: read('server.crt'), keyPem: read('server.key') };
  });
  return serverTls;
}

/** The process-wide RS256 token signer; throws when openssl is missing or fails. */
export function registryTokenSigner(): TokenSigner {
  tokenSigner ??= inTempDir((run, read) => {
    run([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'signer.key',
      '-out',
      'signer.crt',
      '-days',
      '30',
      '-subj',
      '/CN=registry-harness-token-signer',
    ]);
    return { certPem: read('signer.crt'), keyPem: read('signer.key') };
  });
  return tokenSigner;
}

/** The base64 DER of the first certificate in a PEM, as JWT x5c wants it. */
export function pemToDerBase64(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('pemToDerBase64: no certificate in PEM');
  return m[1].replace(/\s+/g, '');
}

function inTempDir<T>(
  make: (run: (args: string[], extFile?: string) => void, read: (name: string) => string) => T,
): T {
  const dir = mkdtempSync(join(tmpdir(), 'registry-harness-certs-'));
  try {
    const run = (args: string[], extFile?: string) => {
      if (extFile !== undefined) writeFileSync(join(dir, 'ext.cnf'), extFile);
      try {
        execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
        throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, { cause: err });
      }
    };
    return make(run, (name) => readFileSync(join(dir, name), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

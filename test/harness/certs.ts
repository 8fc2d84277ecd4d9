// Throwaway certificates for the test harnesses (API simulator, registry, container engines), made with the openssl
// CLI: a CA, CA-signed server and client certificates, and a self-signed RSA certificate for signing tokens.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM certificate with its unencrypted PEM private key. */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

/** What a CA-signed leaf certificate is for, and the names it is valid for. */
export interface LeafOptions {
  commonName: string;
  days: number;
  usage: 'serverAuth' | 'clientAuth';
  /** subjectAltName entries such as `IP:127.0.0.1` or `DNS:localhost`; Go ignores the CN, so servers need these. */
  sans?: readonly string[];
}

// P-256 keys: generation is fast, and every TLS stack in play (Node, Go, curl) accepts them.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A new self-signed CA; throws (naming the certificate) when the openssl CLI is missing or fails. */
export function makeCa(commonName: string, days: number): CertAndKey {
  return inTempDir(commonName, (run, read) => {
    run([
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      String(days),
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { certPem: read('ca.crt'), keyPem: read('ca.key') };
  });
}

/** A new key and a certificate for it signed by `ca`; throws when the openssl CLI is missing or fails. */
export function issueCert(ca: CertAndKey, opts: LeafOptions): CertAndKey {
  return inTempDir(opts.commonName, (run, read, write) => {
    write('ca.crt', ca.certPem);
    write('ca.key', ca.keyPem);
    write(
      'ext.cnf',
      [
        ...(opts.sans?.length ? [`subjectAltName=${opts.sans.join(',')}`] : []),
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${opts.usage}`,
        '',
      ].join('\n'),
    );
    run(['req', ...EC_KEY, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${opts.commonName}`]);
    run([
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'leaf.crt',
      '-days',
      String(opts.days),
      '-extfile',
      'ext.cnf',
    ]);
    return { certPem: read('leaf.crt'), keyPem: read('leaf.key') };
  });
}

/** A PEM CA certificate with a server certificate and key it signed, the shape TLS servers and their clients want. */
export interface ServerTls extends CertAndKey {
  caPem: string;
}

/** A fresh CA (named `caName`) and a server certificate it signed; throws when the openssl CLI is missing or fails. */
export function makeServerTls(caName: string, server: Omit<LeafOptions, 'usage'>): ServerTls {
  const ca = makeCa(caName, server.days);
  return { caPem: ca.certPem, ...issueCert(ca, { ...server, usage: 'serverAuth' }) };
}

/** A new RSA-2048 key with a self-signed certificate (for RS256 signing); throws when openssl is missing or fails. */
export function selfSignedRsa(commonName: string, days: number): CertAndKey {
  return inTempDir(commonName, (run, read) => {
    run([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'rsa.key',
      '-out',
      'rsa.crt',
      '-days',
      String(days),
      '-subj',
      `/CN=${commonName}`,
    ]);
    return { certPem: read('rsa.crt'), keyPem: read('rsa.key') };
  });
}

// Keys only touch disk because openssl wants files; the directory is removed whether or not openssl succeeded.
function inTempDir<T>(
  subject: string,
  make: (
    run: (args: string[]) => void,
    read: (name: string) => string,
    write: (name: string, text: string) => void,
  ) => T,
): T {
  const dir = mkdtempSync(join(tmpdir(), 'harness-certs-'));
  const run = (args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      const why =
        err.code === 'ENOENT'
          ? 'the openssl CLI is not installed'
          : err.stderr?.toString().trim() || String(err.message);
      throw new Error(`cannot make the "${subject}" certificate (openssl ${args[0]}): ${why}`, { cause: e });
    }
  };
  try {
    return make(
      run,
      (name) => readFileSync(join(dir, name), 'utf8'),
      (name, text) => writeFileSync(join(dir, name), text, { mode: 0o600 }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

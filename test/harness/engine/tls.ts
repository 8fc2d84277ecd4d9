// Throwaway mutual-TLS material for a dockerd TCP listener, the layout `docker --tlsverify` expects: a CA, a server
// certificate for 127.0.0.1, and a client certificate, made with the openssl CLI.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EngineTls {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes a fresh CA with one server and one client certificate; throws when openssl is missing or fails. */
export function engineTls(): EngineTls {
  const dir = mkdtempSync(join(tmpdir(), 'engine-tls-'));
  const run = (args: string[]) => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, { cause: err });
    }
  };
  const sign = (name: string, ext: string) => {
    run(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(dir, `${name}.cnf`), ext);
    run([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.cnf`,
    ]);
  };
  try {
    run([
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=engine-harness-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    // Go ignores the CN: the IP SAN is what makes 127.0.0.1 verify.
    sign('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
    sign('client', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    return {
      caPem: read('ca.crt'),
      serverCertPem: read('server.crt'),
      serverKeyPem: read('server.key'),
      clientCertPem: read('client.crt'),
      clientKeyPem: read('client.key'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

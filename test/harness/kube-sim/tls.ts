// TLS material for the API simulator: a throwaway CA and a server certificate for 127.0.0.1/localhost, made once
// per process (key generation is the slow part of starting a cluster).

import { makeServerTls } from '../certs.ts';

export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

let cached: TlsMaterial | undefined;

/** The process-wide CA and server certificate; throws when the openssl CLI is missing or fails. */
export function simulatorTls(): TlsMaterial {
  cached ??= makeServerTls('kube-sim-ca', {
    commonName: 'kube-apiserver',
    days: 30,
    sans: ['IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes.default.svc'],
  });
  return cached;
}

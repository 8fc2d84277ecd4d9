// Throwaway mutual-TLS material for a dockerd TCP listener, the layout `docker --tlsverify` expects: a CA, a server
// certificate for 127.0.0.1, and a client certificate.

import { issueCert, makeCa } from '../certs.ts';

export interface EngineTls {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

/** Makes a fresh CA with one server and one client certificate; throws when openssl is missing or fails. */
export function engineTls(): EngineTls {
  const ca = makeCa('engine-harness-ca', 2);
  // Go ignores the CN: the IP SAN is what makes 127.0.0.1 verify.
  const server = issueCert(ca, {
    commonName: 'server',
    days: 2,
    usage: 'serverAuth',
    sans: ['IP:127.0.0.1'],
  });
  const client = issueCert(ca, { commonName: 'client', days: 2, usage: 'clientAuth' });
  return {
    caPem: ca.certPem,
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    clientCertPem: client.certPem,
    clientKeyPem: client.keyPem,
  };
}

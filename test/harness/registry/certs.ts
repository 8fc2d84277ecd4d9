// Throwaway key material for the registry: a CA-signed server certificate for 127.0.0.1 (TLS) and an RSA signer
// certificate for bearer tokens, each made once per process since key generation is the slow part.

import { makeServerTls, selfSignedRsa } from '../certs.ts';

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
  // Go (the registry, dockerd) ignores the CN: the IP SAN is what makes 127.0.0.1 verify.
  serverTls ??= makeServerTls('registry-harness-ca', {
    commonName: '127.0.0.1',
    days: 30,
    sans: ['IP:127.0.0.1', 'DNS:localhost'],
  });
  return serverTls;
}

/** The process-wide RS256 token signer; throws when openssl is missing or fails. */
export function registryTokenSigner(): TokenSigner {
  tokenSigner ??= selfSignedRsa('registry-harness-token-signer', 30);
  return tokenSigner;
}

/** The base64 DER of the first certificate in a PEM, as JWT x5c wants it; throws when the PEM holds none. */
export function pemToDerBase64(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('pemToDerBase64: no certificate in PEM');
  return m[1].replace(/\s+/g, '');
}

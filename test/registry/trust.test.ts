// --registry-ca adds to Node's default trust instead of replacing it: a registry signed by a CA from
// NODE_EXTRA_CA_CERTS and one signed by the --registry-ca CA are both trusted in the same process, and a CA in
// neither is refused. NODE_EXTRA_CA_CERTS is read at process start, so the check runs in a child process.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { digestOf } from '../../lib/image/digest.ts';
import { makeServerTls } from '../harness/certs.ts';
import { requireBin } from '../harness/require-bin.ts';

const MANIFEST = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }),
);
const DIGEST = digestOf(MANIFEST);
const CLIENT = fileURLToPath(new URL('../../lib/registry/client.ts', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../lib/image/reference.ts', import.meta.url));

async function tlsRegistry(t: { teardown(fn: () => void): void }, caName: string) {
  const tls = makeServerTls(caName, { commonName: '127.0.0.1', days: 1, sans: ['IP:127.0.0.1'] });
  const srv: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    if (req.url === '/v2/') return res.writeHead(200).end('{}');
    res.writeHead(200, {
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'content-length': MANIFEST.length,
      'docker-content-digest': DIGEST,
    });
    res.end(req.method === 'HEAD' ? undefined : MANIFEST);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { host: `127.0.0.1:${(srv.address() as AddressInfo).port}`, caPem: tls.caPem };
}

// Resolves one image per host with --registry-ca's client option; prints [host, ok, kind] per host.
const SCRIPT = `
import { readFileSync } from 'node:fs';
import { RegistryClient } from ${JSON.stringify(CLIENT)};
import { parseImageReference } from ${JSON.stringify(REFERENCE)};
const [caFile, ...hosts] = process.argv.slice(2);
const client = new RegistryClient({ ca: readFileSync(caFile), timeoutMs: 5000 });
const out = [];
for (const host of hosts) {
  const r = await client.resolve(parseImageReference(host + '/app:v1'), []);
  out.push([host, r.ok, r.ok ? r.digest : r.kind]);
}
client.close();
console.log(JSON.stringify(out));
`;

t.test(
  'when --registry-ca is given then NODE_EXTRA_CA_CERTS stays trusted and the extra CA is added',
  async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const fromEnv = await tlsRegistry(t, 'extra-ca-certs-ca');
    const fromFlag = await tlsRegistry(t, 'registry-ca-flag-ca');
    const unknown = await tlsRegistry(t, 'nobody-trusts-this-ca');
    const dir = mkdtempSync(join(tmpdir(), 'trust-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'env-ca.pem'), fromEnv.caPem);
    writeFileSync(join(dir, 'flag-ca.pem'), fromFlag.caPem);
    writeFileSync(join(dir, 'check.ts'), SCRIPT);

    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(dir, 'check.ts'), join(dir, 'flag-ca.pem'), fromEnv.host, fromFlag.host, unknown.host],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'env-ca.pem') }, timeout: 30_000 },
        (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)),
      ),
    );
    t.same(JSON.parse(stdout), [
      [fromEnv.host, true, DIGEST],
      [fromFlag.host, true, DIGEST],
      [unknown.host, false, 'unreachable'],
    ]);
  },
);

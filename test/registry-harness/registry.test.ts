// The registry harness starts the real docker-registry in each auth/TLS variant and the variant behaves like the
// registries the updater meets in production.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { createClient, parseChallenge } from '../harness/registry/client.ts';
import { fetchBuffer, header } from '../harness/registry/http.ts';
import { pushImage, startRegistry } from '../harness/registry/index.ts';
import { requireBin } from '../harness/require-bin.ts';

if (requireBin(t, 'docker-registry')) {
  t.test('when started without options then /v2/ answers 200 over plain HTTP on loopback', async (t) => {
    const reg = await startRegistry();
    t.teardown(reg.stop);
    t.match(reg.host, /^127\.0\.0\.1:\d+$/);
    t.equal(reg.url, `http://${reg.host}`);
    t.equal(reg.credentials, undefined);
    t.equal(reg.tokenServer, undefined);
    const res = await fetchBuffer(`${reg.url}/v2/`);
    t.equal(res.status, 200);
    t.equal(header(res, 'docker-distribution-api-version'), 'registry/2.0');
  });

  t.test('when stopped then the port no longer answers and stop can be called twice', async (t) => {
    const reg = await startRegistry();
    await reg.stop();
    await reg.stop();
    await t.rejects(fetchBuffer(`${reg.url}/v2/`, { timeoutMs: 2000 }));
  });

  t.test('when two registries run at once then each has its own port and storage', async (t) => {
    const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    t.teardown(a.stop);
    t.teardown(b.stop);
    t.not(a.host, b.host);
    t.equal((await fetchBuffer(`${a.url}/v2/`)).status, 200);
    t.equal((await fetchBuffer(`${b.url}/v2/`)).status, 200);
  });

  t.test('basic auth', async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const reg = await startRegistry({ auth: 'basic' });
    t.teardown(reg.stop);
    t.same(reg.credentials, { username: 'alice', password: 'alice-secret' });

    t.test('when no credentials are sent then 401 with a Basic challenge', async (t) => {
      const res = await fetchBuffer(`${reg.url}/v2/`);
      t.equal(res.status, 401);
      t.equal(parseChallenge(header(res, 'www-authenticate'))?.scheme, 'basic');
    });
    t.test('when the right password is sent then 200', async (t) => {
      const res = await createClient({ url: reg.url, credentials: reg.credentials! }).request('/v2/', {});
      t.equal(res.status, 200);
    });
    t.test('when a wrong password is sent then 401', async (t) => {
      const client = createClient({ url: reg.url, credentials: { username: 'alice', password: 'wrong' } });
      t.equal((await client.request('/v2/', {})).status, 401);
    });
  });

  t.test('when users are given then the first one is the credentials and every one may log in', async (t) => {
    if (!requireBin(t, 'htpasswd')) return;
    const reg = await startRegistry({ auth: 'basic', users: { bob: 'b-pass', carol: 'c-pass' } });
    t.teardown(reg.stop);
    t.same(reg.credentials, { username: 'bob', password: 'b-pass' });
    const carol = createClient({ url: reg.url, credentials: { username: 'carol', password: 'c-pass' } });
    t.equal((await carol.request('/v2/', {})).status, 200);
  });

  t.test('bearer auth', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ auth: 'bearer', tokenTtlSeconds: 120 });
    t.teardown(reg.stop);
    const ts = reg.tokenServer!;

    t.test(
      'when no token is sent then 401 with a Bearer challenge naming the realm and service',
      async (t) => {
        const res = await fetchBuffer(`${reg.url}/v2/`);
        t.equal(res.status, 401);
        const ch = parseChallenge(header(res, 'www-authenticate'));
        t.equal(ch?.scheme, 'bearer');
        t.equal(ch?.params.realm, ts.url);
        t.ok(ch?.params.service);
      },
    );

    t.test('when an anonymous client asks for a pull token then the registry accepts it', async (t) => {
      const before = ts.issued();
      const client = createClient({ url: reg.url });
      const res = await client.request('/v2/some/repo/tags/list', { scope: 'repository:some/repo:pull' });
      // The token is valid: the registry got past auth and reports the unknown repository.
      t.equal(res.status, 404);
      t.match(res.body.toString(), /NAME_UNKNOWN/);
      t.equal(ts.issued(), before + 1);
      t.same(ts.requests().at(-1), { scope: 'repository:some/repo:pull' });
    });

    t.test(
      'when the token response is read then it is a signed JWT with x5c, the claims and expires_in',
      async (t) => {
        const url = new URL(ts.url);
        url.searchParams.set('service', 'registry-harness');
        url.searchParams.set('scope', 'repository:a/b:pull,push');
        const auth = Buffer.from('alice:alice-secret').toString('base64');
        const res = await fetchBuffer(url, { headers: { Authorization: `Basic ${auth}` } });
        t.equal(res.status, 200);
        const body = JSON.parse(res.body.toString());
        t.equal(body.expires_in, 120);
        t.equal(body.token, body.access_token);
        t.ok(Date.parse(body.issued_at));
        const [head, claims, sig] = (body.token as string)
          .split('.')
          .map((p, i) => (i < 2 ? JSON.parse(Buffer.from(p, 'base64url').toString()) : p));
        t.equal(head.alg, 'RS256');
        t.equal(head.x5c.length, 1);
        t.ok(sig);
        t.equal(claims.aud, 'registry-harness');
        t.equal(claims.sub, 'alice');
        t.equal(claims.exp - claims.iat, 120);
        t.ok(claims.iss && claims.jti && claims.nbf <= claims.iat);
        t.same(claims.access, [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }]);
      },
    );

    t.test(
      'when a token is asked for by OAuth2 POST with a password then it is granted like GET',
      async (t) => {
        const form = new URLSearchParams({
          grant_type: 'password',
          username: 'alice',
          password: 'alice-secret',
          service: 'registry-harness',
          scope: 'repository:a/b:pull',
          client_id: 'harness-test',
        });
        const res = await fetchBuffer(ts.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        });
        t.equal(res.status, 200);
        const token: string = JSON.parse(res.body.toString()).access_token;
        const check = await fetchBuffer(`${reg.url}/v2/a/b/tags/list`, {
          headers: { Authorization: `Bearer ${token}` },
        });
        t.equal(check.status, 404, 'the registry accepts the token (and reports the unknown repository)');
        form.set('password', 'wrong');
        const denied = await fetchBuffer(ts.url, { method: 'POST', body: form.toString() });
        t.equal(denied.status, 401);
      },
    );

    t.test('when an anonymous client asks for push then only pull is granted', async (t) => {
      const url = new URL(ts.url);
      url.searchParams.set('service', 'registry-harness');
      url.searchParams.set('scope', 'repository:a/b:pull,push');
      const body = JSON.parse((await fetchBuffer(url)).body.toString());
      const claims = JSON.parse(Buffer.from(body.token.split('.')[1], 'base64url').toString());
      t.same(claims.access, [{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
      t.equal(claims.sub, '');
    });

    t.test(
      'when the token server gets a wrong password then it answers 401 and issues nothing',
      async (t) => {
        const before = ts.issued();
        const client = createClient({ url: reg.url, credentials: { username: 'alice', password: 'nope' } });
        await t.rejects(client.request('/v2/', { scope: 'repository:a/b:pull' }), /HTTP 401/);
        t.equal(ts.issued(), before);
        t.same(ts.requests().at(-1), { scope: 'repository:a/b:pull', user: 'alice' });
      },
    );

    t.test('when a token signature is tampered with then the registry rejects it', async (t) => {
      const url = new URL(ts.url);
      url.searchParams.set('service', 'registry-harness');
      url.searchParams.set('scope', 'repository:a/b:pull');
      const token: string = JSON.parse((await fetchBuffer(url)).body.toString()).token;
      const [h, c] = token.split('.');
      const forged = `${h}.${c}.${Buffer.from('not the signature').toString('base64url')}`;
      const res = await fetchBuffer(`${reg.url}/v2/a/b/tags/list`, {
        headers: { Authorization: `Bearer ${forged}` },
      });
      t.equal(res.status, 401);
      const genuine = await fetchBuffer(`${reg.url}/v2/a/b/tags/list`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      t.equal(genuine.status, 404, 'the unforged token passes auth');
    });
  });

  t.test('TLS', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ tls: true });
    t.teardown(reg.stop);

    t.test('when the client trusts caPem then /v2/ answers 200 over https', async (t) => {
      t.equal(reg.url, `https://${reg.host}`);
      t.match(reg.caPem, /BEGIN CERTIFICATE/);
      t.equal((await fetchBuffer(`${reg.url}/v2/`, { ca: reg.caPem! })).status, 200);
    });
    t.test('when the client does not trust caPem then the handshake fails', async (t) => {
      await t.rejects(fetchBuffer(`${reg.url}/v2/`), /self-signed|certificate/i);
    });
    t.test('when a client offers h2 then the registry negotiates HTTP/2', async (t) => {
      const { connect } = await import('node:tls');
      const protocol = await new Promise<string | false | null>((resolve, reject) => {
        const [host, port] = reg.host.split(':');
        const sock = connect(
          { host, port: Number(port), ca: reg.caPem!, ALPNProtocols: ['h2', 'http/1.1'] },
          () => {
            resolve(sock.alpnProtocol);
            sock.end();
          },
        );
        sock.on('error', reject);
      });
      t.equal(protocol, 'h2');
    });
  });

  t.test('when TLS and bearer are combined then the token flow works over https', async (t) => {
    if (!requireBin(t, 'openssl')) return;
    const reg = await startRegistry({ tls: true, auth: 'bearer' });
    t.teardown(reg.stop);
    const client = createClient({ url: reg.url, caPem: reg.caPem!, credentials: reg.credentials! });
    t.equal((await client.request('/v2/', { scope: 'repository:x/y:pull' })).status, 200);
    t.equal(reg.tokenServer!.issued(), 1);
  });

  t.test('when the process that started a registry is killed then the registry exits too', async (t) => {
    if (!requireBin(t, 'setpriv')) return;
    const script = `import { startRegistry } from ${JSON.stringify(new URL('../harness/registry/index.ts', import.meta.url).href)};
      const reg = await startRegistry(); console.log(reg.host); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    const host = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      child.once('exit', () => reject(new Error('child exited before starting a registry')));
    });
    t.equal((await fetchBuffer(`http://${host}/v2/`)).status, 200);
    const dir = registryDir(host);
    child.kill('SIGKILL');
    // SIGKILL skips every exit hook: only the parent-death signal can stop the registry; wait for it, bounded.
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await fetchBuffer(`http://${host}/v2/`, { timeoutMs: 1000 }).then(
        () => false,
        () => true,
      );
      if (!refused) await sleep(50);
    }
    t.ok(refused, 'the registry port is closed');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  t.test('when the registry is stopped then its temporary storage is gone', async (t) => {
    const reg = await startRegistry();
    await pushImage(reg, 'tmp/check', 'v1');
    const dir = registryDir(reg.host);
    t.ok(dir && existsSync(join(dir, 'data')), 'storage exists while running');
    await reg.stop();
    t.notOk(existsSync(dir!), 'storage removed');
  });
}

// The registry's private directory is found by the address in its config, since the harness does not expose it.
function registryDir(host: string): string | undefined {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('registry-harness-')) continue;
    const config = join(tmpdir(), name, 'config.yml');
    if (existsSync(config) && readFileSync(config, 'utf8').includes(`"${host}"`)) return join(tmpdir(), name);
  }
  return undefined;
}

// Error reporting against a local receiver of Sentry's envelope protocol: the error arrives with its tags, no
// credential does; without SENTRY_DSN the SDK is not even loaded.

import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { scrubSecrets, startErrorReporting } from '../../lib/shared/error-reporting.ts';

t.test(
  'when SENTRY_DSN points at a receiver then the error arrives in an envelope, scrubbed of credentials',
  async (t) => {
    const bodies: string[] = [];
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        bodies.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
        paths.push(req.url ?? '');
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    const reporter = await startErrorReporting(
      { SENTRY_DSN: `http://publickey123@127.0.0.1:${port}/42` },
      { release: 'k8s-auto-updater@0.0.0-test' },
    );
    if (!reporter) throw new Error('no reporter');
    reporter.capture(
      new Error(
        'registry https://alice:s3cr3t@reg.example.com refused Bearer eyJhbGciOiJIUzI1NiJ9.abc.def (token=tok-9f8e7d)',
      ),
      { command: 'update' },
    );
    t.equal(await reporter.flush(5000), true);
    t.equal(bodies.length, 1, 'one envelope');
    t.match(paths[0], /^\/api\/42\/envelope\/(\?|$)/);
    const lines = bodies[0]!
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const event = lines.find((l) => l.exception);
    t.ok(event, 'the envelope holds the event');
    t.match(
      event.exception.values[0].value,
      /registry https:\/\/\[redacted\]@reg.example.com refused Bearer \[redacted\]/,
    );
    t.equal(event.tags.command, 'update');
    t.equal(event.release, 'k8s-auto-updater@0.0.0-test');
    for (const secret of ['s3cr3t', 'eyJhbGciOiJIUzI1NiJ9', 'tok-9f8e7d'])
      t.notOk(bodies[0]!.includes(secret), `${secret} never leaves`);
  },
);

t.test('when SENTRY_DSN is unset then no reporter exists and the SDK is never loaded', async (t) => {
  t.equal(await startErrorReporting({}, { release: 'x' }), undefined);
  // A resolve hook in a child process sees every module specifier resolved: @sentry must not be among them.
  const probe = (env: string) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { registerHooks } from 'node:module';
         let seen = false;
         registerHooks({ resolve(s, c, next) { if (s.includes('@sentry')) seen = true; return next(s, c); } });
         const m = await import('./lib/shared/error-reporting.ts');
         await m.startErrorReporting(${env}, { release: 'x' });
         console.log(seen ? 'loaded' : 'not-loaded');
         process.exit(0);`,
      ],
      { cwd: new URL('../..', import.meta.url).pathname, encoding: 'utf8' },
    );
  const off = probe('{}');
  t.equal(off.stdout.trim(), 'not-loaded', off.stderr);
  const on = probe("{ SENTRY_DSN: 'http://k@127.0.0.1:9/1' }");
  t.equal(on.stdout.trim(), 'loaded', 'the probe does see the SDK when it is configured');
  await t.rejects(
    startErrorReporting({ SENTRY_DSN: 'not a dsn' }, { release: 'x' }),
    /SENTRY_DSN is not a Sentry DSN: write https:\/\/<public key>@<host>\/<project id>/,
  );
});

t.test('when texts carry credentials then scrubSecrets redacts each kind', async (t) => {
  t.equal(scrubSecrets('Authorization: Bearer abc.def'), 'Authorization: Bearer [redacted]');
  t.equal(scrubSecrets('APIKey k3y-123 sent'), 'APIKey [redacted] sent');
  t.equal(scrubSecrets('https://u:p@h/x?token=zzz&n=1'), 'https://[redacted]@h/x?token=[redacted]&n=1');
  t.equal(scrubSecrets('password=hunter2'), 'password=[redacted]');
});

// The pieces of docker mode that need no engine: reading RepoDigests, classifying the engines' failure texts,
// reading a progress stream to its end, building X-Registry-Auth, and an engine that is not there at all.

import { PassThrough } from 'node:stream';
import t from 'tap';
import { parseImageReference } from '../../lib/image/reference.ts';
import { candidates, type PlanContext } from '../../lib/plan/planner.ts';
import { Credential } from '../../lib/registry/credentials.ts';
import { silentLogger } from '../../lib/shared/log.ts';
import { createDockerSource } from '../../lib/sources/docker.ts';
import {
  authConfigFor,
  classifyEngineError,
  classifyMessage,
  pullImage,
  readProgress,
} from '../../lib/sources/docker-pull.ts';
import { repoDigestsFor, tagStateFromImage } from '../../lib/sources/docker-state.ts';
import { runningPod } from '../harness/engine/fixtures.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const ID = `sha256:${'9'.repeat(64)}`;

t.test('repo digests are matched by parsed registry and repository, never by string prefix', async (t) => {
  const app = parseImageReference('127.0.0.1:5000/app:v1');
  const listed = [
    `127.0.0.1:5000/app2@${D1}`,
    `127.0.0.1:5000/app@${D2}`,
    `127.0.0.1:50001/app@${D3}`,
    '<none>@<none>',
  ];
  t.same(repoDigestsFor(app, listed), [D2]);
  t.same(repoDigestsFor(parseImageReference('127.0.0.1:5000/app2:v1'), listed), [D1]);
});

t.test('Docker Hub repo digests count in any of their spellings', async (t) => {
  const nginx = parseImageReference('nginx:1.27');
  t.same(repoDigestsFor(nginx, [`nginx@${D1}`, `docker.io/library/nginx@${D2}`, `library/nginx@${D1}`]), [
    D1,
    D2,
  ]);
  t.same(repoDigestsFor(parseImageReference('bitnami/nginx:1'), [`nginx@${D1}`]), []);
  t.same(repoDigestsFor(nginx, null), []);
});

t.test(
  'the tag state takes dockerd Digest line first, other repo digests as children and the Id',
  async (t) => {
    const ref = parseImageReference('127.0.0.1:5000/app:v1');
    const image = { Id: ID, RepoDigests: [`127.0.0.1:5000/app@${D1}`, `127.0.0.1:5000/app@${D2}`] };
    t.same(tagStateFromImage(ref, image, D2), { ok: true, digest: D2, children: [D1], configIds: [ID] });
    t.same(tagStateFromImage(ref, image, undefined), {
      ok: true,
      digest: D1,
      children: [D2],
      configIds: [ID],
    });
  },
);

t.test('when the engine lists no digest for the repository then the tag stays unknown', async (t) => {
  const ref = parseImageReference('127.0.0.1:5000/app:v1');
  t.match(tagStateFromImage(ref, { Id: ID, RepoDigests: [`127.0.0.1:5000/other@${D1}`] }, undefined), {
    ok: false,
    message: /lists no repo digest/,
  });
});

t.test('the engines failure texts are classified like registry answers', async (t) => {
  const cases: Array<[string, string, number | undefined, string]> = [
    ['dockerd 401 relayed as 500', 'unauthorized: authentication required', 500, 'unauthorized'],
    [
      'dockerd anonymous',
      'Head "http://r/v2/a/manifests/v1": no basic auth credentials',
      500,
      'unauthorized',
    ],
    [
      'Docker Hub',
      "pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
      404,
      'unauthorized',
    ],
    [
      'dockerd missing tag',
      'manifest for r/a:x not found: manifest unknown: manifest unknown',
      404,
      'not-found',
    ],
    [
      'podman missing tag',
      'initializing source docker://r/a:x: reading manifest x in r/a: manifest unknown: manifest unknown',
      undefined,
      'not-found',
    ],
    ['platform', 'no matching manifest for linux/arm64/v8 in the manifest list entries', 500, 'not-found'],
    ['rate limit', 'toomanyrequests: You have reached your pull rate limit', 500, 'rate-limited'],
    [
      'network',
      'Get "https://r/v2/": dial tcp 10.0.0.1:443: connect: connection refused',
      500,
      'registry-unreachable',
    ],
    ['5xx', 'received unexpected HTTP status: 503 Service Unavailable', 500, 'registry-unreachable'],
  ];
  for (const [name, message, status, kind] of cases) t.equal(classifyMessage(message, status), kind, name);
});

t.test('when the engine gives no HTTP answer then the engine is unreachable', async (t) => {
  const enoent = Object.assign(new Error('connect ENOENT /x.sock'), { code: 'ENOENT' });
  t.match(classifyEngineError(enoent, 'pull of a'), { kind: 'engine-unreachable', message: /ENOENT/ });
  const http404 = Object.assign(new Error('(HTTP code 404) no such image - x'), {
    statusCode: 404,
    json: { message: 'No such image: x' },
  });
  t.match(classifyEngineError(http404, 'inspect of x'), {
    kind: 'not-found',
    message: /HTTP 404: No such image/,
  });
  const timeout = Object.assign(new Error('aborted'), { name: 'AbortError' });
  t.match(classifyEngineError(timeout, 'pull of a'), { kind: 'registry-unreachable', message: /timed out/ });
});

const lines = (...events: unknown[]) =>
  events.map((e) => `${typeof e === 'string' ? e : JSON.stringify(e)}\r\n`);

t.test('when the stream carries an error event after 200 then the pull failed', async (t) => {
  const s = new PassThrough();
  const done = readProgress(s, 'pull of a');
  for (const l of lines(
    { status: 'Pulling fs layer', id: 'x' },
    {
      errorDetail: { message: 'unauthorized: authentication required' },
      error: 'unauthorized: authentication required',
    },
    { status: 'Download complete' },
  )) {
    s.write(l);
  }
  s.end();
  t.match(await done, { ok: false, kind: 'unauthorized', message: /pull of a: unauthorized/ });
});

t.test(
  'when the stream ends cleanly then dockerd Digest line is kept, even on a last line without newline',
  async (t) => {
    const s = new PassThrough();
    const done = readProgress(s, 'pull of a');
    s.write(lines({ status: `Digest: ${D1}` })[0]);
    s.end(JSON.stringify({ status: 'Status: Image is up to date for a:v1' }));
    t.same(await done, { ok: true, digestLine: D1, events: 2 });
  },
);

t.test('when a progress line is not JSON then the pull is not trusted', async (t) => {
  const s = new PassThrough();
  const done = readProgress(s, 'pull of a');
  s.end('{"status":"Pulling\n');
  t.match(await done, { ok: false, message: /unreadable progress line/ });
});

t.test('when the stream breaks before its end then the engine is unreachable', async (t) => {
  const s = new PassThrough();
  const done = readProgress(s, 'pull of a');
  s.write(lines({ status: 'Downloading' })[0]);
  s.destroy();
  t.match(await done, { ok: false, kind: 'engine-unreachable' });
});

t.test(
  'when the stop signal aborts mid-stream then reading ends at once and the stream is destroyed',
  async (t) => {
    const s = new PassThrough();
    const ac = new AbortController();
    const done = readProgress(s, 'pull of a', ac.signal);
    s.write(lines({ status: 'Downloading' })[0]);
    ac.abort(new Error('received SIGTERM'));
    t.match(await done, { ok: false, kind: 'registry-unreachable', message: 'pull of a: timed out' });
    t.equal(s.destroyed, true, 'the engine sees the client go away');
  },
);

t.test('when the run is already stopped then a pull is not even sent', async (t) => {
  const ac = new AbortController();
  ac.abort(new Error('received SIGTERM'));
  let calls = 0;
  const docker = {
    createImage: async () => {
      calls++;
      return new PassThrough();
    },
  } as unknown as Parameters<typeof pullImage>[0];
  t.same(await pullImage(docker, { name: 'reg/a', reference: 'v1', signal: ac.signal }), {
    ok: false,
    kind: 'interrupted',
    message: 'pull of reg/a:v1: abandoned (received SIGTERM)',
  });
  t.equal(calls, 0);
});

t.test(
  'when the docker source is asked after the stop signal then the engine is not contacted and every pod is interrupted',
  async (t) => {
    const pods = [
      runningPod({
        name: 'a',
        image: 'registry.example.com/a:v1',
        imageID: `docker-pullable://registry.example.com/a@${D1}`,
      }),
      runningPod({ name: 'b', image: 'registry.example.com/b:v1', imageID: `docker://${ID}` }),
    ];
    // A socket that does not exist: had the source called the engine, the pods would be registry-unreachable.
    const source = createDockerSource(
      { dockerHost: 'unix:///nonexistent/docker.sock', dockerTlsVerify: false, registryConcurrency: 2 },
      { logger: silentLogger(), pullSecrets: noSecrets },
    );
    const ac = new AbortController();
    ac.abort(new Error('received SIGTERM'));
    const states = await source.resolve(
      candidates(pods, ctx),
      new Map(pods.map((p) => [p.metadata?.uid ?? '', p])),
      { signal: ac.signal },
    );
    t.equal(states.size, 2);
    for (const s of states.values()) t.match(s, { ok: false, reason: 'interrupted' });
    t.match(source.stats(), { refs: 0, pulls: 0, pullsAbandoned: 0, refsNotStarted: 2 });
    t.equal(source.hadHardFault(), true);
    t.match(source.faults(), [
      /^docker mode stopped \(received SIGTERM\): 0 pull\(s\) abandoned, 2 tag\(s\) not started/,
    ]);
  },
);

t.test('the auth config carries the matched credential for the image registry only', async (t) => {
  const cred = new Credential({
    rawKey: 'registry.example.com',
    source: 'secret shop/x',
    username: 'bob',
    password: 'p:w',
  });
  t.same(authConfigFor(cred, 'registry.example.com'), {
    serveraddress: 'registry.example.com',
    username: 'bob',
    password: 'p:w',
  });
  const hub = new Credential({ rawKey: 'https://index.docker.io/v1/', source: 's', identityToken: 'tok' });
  t.same(authConfigFor(hub, 'docker.io'), {
    serveraddress: 'https://index.docker.io/v1/',
    identitytoken: 'tok',
  });
});

const ctx: PlanContext = { optIn: false, compareConfigIds: true, now: new Date() };
const noSecrets = { forPod: async () => ({ secrets: [], warnings: [] }) };

t.test(
  'when the engine socket does not exist then every candidate is unreachable and the run is partial',
  async (t) => {
    const pods = [
      runningPod({
        name: 'a',
        image: 'registry.example.com/a:v1',
        imageID: `docker-pullable://registry.example.com/a@${D1}`,
      }),
      runningPod({ name: 'b', image: 'registry.example.com/b:v1', imageID: `docker://${ID}` }),
    ];
    const source = createDockerSource(
      { dockerHost: 'unix:///nonexistent/docker.sock', dockerTlsVerify: false, registryConcurrency: 2 },
      { logger: silentLogger(), pullSecrets: noSecrets },
    );
    const states = await source.resolve(
      candidates(pods, ctx),
      new Map(pods.map((p) => [p.metadata?.uid ?? '', p])),
    );
    t.equal(states.size, 2);
    for (const s of states.values()) {
      t.match(s, { ok: false, reason: 'registry-unreachable', message: /Docker engine unreachable/ });
    }
    t.equal(source.hadHardFault(), true);
    t.match(source.faults(), [/ENOENT/]);
  },
);

t.test('when there are no candidates then the engine is not contacted', async (t) => {
  const source = createDockerSource(
    { dockerHost: 'unix:///nonexistent/docker.sock', dockerTlsVerify: false, registryConcurrency: 2 },
    { logger: silentLogger(), pullSecrets: noSecrets },
  );
  t.equal((await source.resolve([], new Map())).size, 0);
  t.equal(source.hadHardFault(), false);
});

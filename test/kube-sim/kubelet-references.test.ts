// The simulated kubelet's own reference parsing, imageID rendering, pull-secret matching and challenge parsing.

import t from 'tap';
import { credentialsFor } from '../harness/kube-sim/controllers/credentials.ts';
import { parseChallenges } from '../harness/kube-sim/controllers/image-pull.ts';
import {
  formatImageID,
  normalized,
  parseImage,
  type RuntimeFormat,
} from '../harness/kube-sim/controllers/image-ref.ts';
import { defaultPullPolicy } from '../harness/kube-sim/controllers/pod-template.ts';
import { pullSecret } from '../harness/kube-sim/fixtures.ts';
import type { KObject } from '../harness/kube-sim/store.ts';

const D = `sha256:${'a'.repeat(64)}`;

t.test('when references are parsed then Docker defaults and ports are applied', async (t) => {
  const cases: Array<[string, string]> = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io/library/nginx:1.25'],
    ['user/app:v1', 'docker.io/user/app:v1'],
    ['index.docker.io/library/redis:7', 'docker.io/library/redis:7'],
    ['127.0.0.1:5000/app', '127.0.0.1:5000/app:latest'],
    ['localhost/app:2', 'localhost/app:2'],
    ['registry.example.com/team/app:3', 'registry.example.com/team/app:3'],
    [`nginx@${D}`, `docker.io/library/nginx@${D}`],
    [`127.0.0.1:5000/app:1@${D}`, `127.0.0.1:5000/app:1@${D}`],
  ];
  for (const [input, want] of cases) t.equal(normalized(parseImage(input)), want, input);
  for (const bad of ['', 'UPPER/case', 'a b', 'app@sha256:short']) t.throws(() => parseImage(bad), bad);
});

t.test('when imageID is rendered then each runtime has its own format', async (t) => {
  const hub = parseImage('nginx:1.25');
  const local = parseImage('127.0.0.1:5000/app:1');
  const cfg = `sha256:${'c'.repeat(64)}`;
  const cases: Array<[RuntimeFormat, ReturnType<typeof parseImage>, string]> = [
    ['containerd', hub, `docker.io/library/nginx@${D}`],
    ['crio', local, `127.0.0.1:5000/app@${D}`],
    ['docker', hub, `docker-pullable://nginx@${D}`],
    ['docker', local, `docker-pullable://127.0.0.1:5000/app@${D}`],
    ['docker-no-digest', hub, `docker://${cfg}`],
    ['bare', local, cfg],
  ];
  for (const [rt, ref, want] of cases)
    t.equal(formatImageID(rt, ref, D, cfg), want, `${rt} ${normalized(ref)}`);
});

t.test(
  'when no pull policy is given then latest or no tag means Always, anything else IfNotPresent',
  async (t) => {
    t.equal(defaultPullPolicy('nginx'), 'Always');
    t.equal(defaultPullPolicy('nginx:latest'), 'Always');
    t.equal(defaultPullPolicy('127.0.0.1:5000/app'), 'Always');
    t.equal(defaultPullPolicy('127.0.0.1:5000/app:1'), 'IfNotPresent');
    t.equal(defaultPullPolicy(`nginx@${D}`), 'IfNotPresent');
  },
);

t.test(
  'when pull secrets are matched then host and port must agree and the path must be a prefix',
  async (t) => {
    const secrets: Record<string, KObject> = {
      exact: pullSecret('exact', 'ns', '127.0.0.1:5000', 'u1', 'p1'),
      otherPort: pullSecret('otherPort', 'ns', '127.0.0.1:5001', 'u2', 'p2'),
      hub: pullSecret('hub', 'ns', 'https://index.docker.io/v1/', 'u3', 'p3'),
      glob: pullSecret('glob', 'ns', '*.example.com', 'u4', 'p4'),
      path: pullSecret('path', 'ns', 'registry.example.com/team', 'u5', 'p5'),
    };
    const pod = {
      metadata: { name: 'p', namespace: 'ns' },
      spec: { imagePullSecrets: Object.keys(secrets).map((name) => ({ name })) },
    } as KObject;
    const users = (image: string) =>
      credentialsFor(pod, parseImage(image), (_ns, name) => secrets[name]).map((c) => c.username);
    t.same(users('127.0.0.1:5000/app:1'), ['u1']);
    t.same(users('nginx:1'), ['u3'], 'docker.io matches index.docker.io/v1/');
    t.same(users('registry.example.com/team/app:1'), ['u5', 'u4'], 'most specific first');
    t.same(users('registry.example.com/other/app:1'), ['u4']);
    t.same(users('a.b.example.com/app:1'), [], 'a glob matches one label only');
    t.same(users('127.0.0.1:6000/app:1'), []);
  },
);

t.test(
  'when WWW-Authenticate has several challenges then Bearer comes first and quoted commas survive',
  async (t) => {
    const got = parseChallenges(
      'Basic realm="x", Bearer realm="http://127.0.0.1:1/token",service="registry",scope="repository:a/b:pull,push"',
    );
    t.same(
      got.map((c) => c.scheme),
      ['bearer', 'basic'],
    );
    t.same(got[0]!.params, {
      realm: 'http://127.0.0.1:1/token',
      service: 'registry',
      scope: 'repository:a/b:pull,push',
    });
    t.same(parseChallenges(undefined), []);
  },
);

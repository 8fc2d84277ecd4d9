import t from 'tap';
import {
  effectiveTag,
  InvalidReferenceError,
  parseImageReference,
  registryApiHost,
  repoKey,
  tryParseImageReference,
} from '../../lib/image/reference.ts';
import { ConfigError } from '../../lib/shared/errors.ts';

const D = `sha256:${'a'.repeat(64)}`;
const D512 = `sha512:${'b'.repeat(128)}`;

interface Valid {
  input: string;
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  familiar: string;
  canonical: string;
}

const valid: Array<[string, Valid]> = [
  [
    'a single-component name goes to Docker Hub under library/',
    {
      input: 'nginx',
      registry: 'docker.io',
      repository: 'library/nginx',
      familiar: 'nginx',
      canonical: 'docker.io/library/nginx',
    },
  ],
  [
    'a tag is kept as written',
    {
      input: 'nginx:1.25.3-alpine',
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.25.3-alpine',
      familiar: 'nginx:1.25.3-alpine',
      canonical: 'docker.io/library/nginx:1.25.3-alpine',
    },
  ],
  [
    'a two-component Hub name has no library/ prefix',
    {
      input: 'bitnami/redis:7',
      registry: 'docker.io',
      repository: 'bitnami/redis',
      tag: '7',
      familiar: 'bitnami/redis:7',
      canonical: 'docker.io/bitnami/redis:7',
    },
  ],
  [
    'an explicit docker.io single name gets library/',
    {
      input: 'docker.io/nginx',
      registry: 'docker.io',
      repository: 'library/nginx',
      familiar: 'nginx',
      canonical: 'docker.io/library/nginx',
    },
  ],
  [
    'index.docker.io is normalised to docker.io',
    {
      input: 'index.docker.io/library/nginx:1',
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1',
      familiar: 'nginx:1',
      canonical: 'docker.io/library/nginx:1',
    },
  ],
  [
    'a first component with a dot is a registry',
    {
      input: 'ghcr.io/org/app:v1',
      registry: 'ghcr.io',
      repository: 'org/app',
      tag: 'v1',
      familiar: 'ghcr.io/org/app:v1',
      canonical: 'ghcr.io/org/app:v1',
    },
  ],
  [
    'a registry with a port is not mistaken for a tag',
    {
      input: 'registry.example.com:5000/team/app',
      registry: 'registry.example.com:5000',
      repository: 'team/app',
      familiar: 'registry.example.com:5000/team/app',
      canonical: 'registry.example.com:5000/team/app',
    },
  ],
  [
    'a registry with a port and a tag',
    {
      input: '127.0.0.1:5000/app:2.0',
      registry: '127.0.0.1:5000',
      repository: 'app',
      tag: '2.0',
      familiar: '127.0.0.1:5000/app:2.0',
      canonical: '127.0.0.1:5000/app:2.0',
    },
  ],
  [
    'localhost is a registry even without a dot or port',
    {
      input: 'localhost/app',
      registry: 'localhost',
      repository: 'app',
      familiar: 'localhost/app',
      canonical: 'localhost/app',
    },
  ],
  [
    'localhost alone is a Hub repository name',
    {
      input: 'localhost',
      registry: 'docker.io',
      repository: 'library/localhost',
      familiar: 'localhost',
      canonical: 'docker.io/library/localhost',
    },
  ],
  [
    'a host with a port but no tag, and deep nested paths',
    {
      input: 'localhost:5000/a/b/c/d',
      registry: 'localhost:5000',
      repository: 'a/b/c/d',
      familiar: 'localhost:5000/a/b/c/d',
      canonical: 'localhost:5000/a/b/c/d',
    },
  ],
  [
    'a first component without dot or colon is a Hub namespace',
    {
      input: 'myregistry/app',
      registry: 'docker.io',
      repository: 'myregistry/app',
      familiar: 'myregistry/app',
      canonical: 'docker.io/myregistry/app',
    },
  ],
  [
    'an upper-case first component is a registry host',
    {
      input: 'MyHost/app',
      registry: 'MyHost',
      repository: 'app',
      familiar: 'MyHost/app',
      canonical: 'MyHost/app',
    },
  ],
  [
    'a registry host is lower-cased',
    {
      input: 'Registry.Example.COM:5000/app',
      registry: 'registry.example.com:5000',
      repository: 'app',
      familiar: 'registry.example.com:5000/app',
      canonical: 'registry.example.com:5000/app',
    },
  ],
  [
    'tag and digest together',
    {
      input: `nginx:1.2@${D}`,
      registry: 'docker.io',
      repository: 'library/nginx',
      tag: '1.2',
      digest: D,
      familiar: `nginx:1.2@${D}`,
      canonical: `docker.io/library/nginx:1.2@${D}`,
    },
  ],
  [
    'digest only, on a registry with a port',
    {
      input: `localhost:5000/app@${D}`,
      registry: 'localhost:5000',
      repository: 'app',
      digest: D,
      familiar: `localhost:5000/app@${D}`,
      canonical: `localhost:5000/app@${D}`,
    },
  ],
  [
    'a sha512 digest',
    {
      input: `quay.io/a/b@${D512}`,
      registry: 'quay.io',
      repository: 'a/b',
      digest: D512,
      familiar: `quay.io/a/b@${D512}`,
      canonical: `quay.io/a/b@${D512}`,
    },
  ],
  [
    'separators inside path components and upper-case tags',
    {
      input: 'gcr.io/my-proj/sub.comp/under__score/dash--es:V1_Final.2',
      registry: 'gcr.io',
      repository: 'my-proj/sub.comp/under__score/dash--es',
      tag: 'V1_Final.2',
      familiar: 'gcr.io/my-proj/sub.comp/under__score/dash--es:V1_Final.2',
      canonical: 'gcr.io/my-proj/sub.comp/under__score/dash--es:V1_Final.2',
    },
  ],
  [
    'an IPv6 registry with a port',
    {
      input: '[::1]:5000/app:1',
      registry: '[::1]:5000',
      repository: 'app',
      tag: '1',
      familiar: '[::1]:5000/app:1',
      canonical: '[::1]:5000/app:1',
    },
  ],
  [
    'docker.io/library with a nested path keeps library/ in the familiar form',
    {
      input: 'docker.io/library/foo/bar',
      registry: 'docker.io',
      repository: 'library/foo/bar',
      familiar: 'library/foo/bar',
      canonical: 'docker.io/library/foo/bar',
    },
  ],
  [
    'a tag of 128 characters is accepted',
    {
      input: `app:${'t'.repeat(128)}`,
      registry: 'docker.io',
      repository: 'library/app',
      tag: 't'.repeat(128),
      familiar: `app:${'t'.repeat(128)}`,
      canonical: `docker.io/library/app:${'t'.repeat(128)}`,
    },
  ],
];

for (const [name, want] of valid) {
  t.test(`when the reference is valid: ${name}`, async (t) => {
    const got = parseImageReference(want.input);
    t.equal(got.original, want.input);
    t.equal(got.registry, want.registry, 'registry');
    t.equal(got.repository, want.repository, 'repository');
    t.equal(got.tag, want.tag, 'tag');
    t.equal(got.digest, want.digest, 'digest');
    t.equal(got.familiar, want.familiar, 'familiar');
    t.equal(got.canonical, want.canonical, 'canonical');
    t.same(
      parseImageReference(got.canonical),
      { ...got, original: got.canonical },
      'canonical parses to the same',
    );
  });
}

const invalid: Array<[string, string, RegExp]> = [
  ['an empty string', '', /empty/],
  ['upper case in the repository', 'nginx/MyApp', /lower-case/],
  ['upper case in a single Hub name', 'Nginx', /lower-case/],
  ['upper case after a registry', 'ghcr.io/Org/app', /lower-case/],
  ['a 64-hex image ID', 'a'.repeat(64), /image ID/],
  ['a tag longer than 128 characters', `app:${'t'.repeat(129)}`, /longer than 128/],
  ['a tag starting with a dot', 'app:.x', /tag/],
  ['a tag with a plus', 'app:1+2', /tag/],
  ['an empty tag', 'app:', /tag/],
  [
    'a repository path longer than 255 characters',
    `registry.example.com/${'a'.repeat(256)}`,
    /longer than 255/,
  ],
  [
    'a Hub name whose library/ path exceeds 255 characters',
    'a'.repeat(248),
    /repository path is 256 characters/,
  ],
  ['a short digest', 'app@sha256:abc', /digest/],
  ['an upper-case hex digest', `app@sha256:${'A'.repeat(64)}`, /digest/],
  ['an unknown digest algorithm', `app@md5:${'a'.repeat(32)}`, /digest/],
  ['a double slash', 'a//b', /path component/],
  ['a trailing slash', 'ghcr.io/a/', /path component|missing/],
  ['a leading separator in a component', 'ghcr.io/-a', /path component/],
  ['three underscores', 'a___b', /path component/],
  ['a registry only', 'ghcr.io/', /missing|path component/],
  ['a non-numeric port', 'host:abc/app', /port/],
  ['a port out of range', 'host:99999/app', /port/],
  ['a hyphen-led host part', '-bad.io/app', /registry host/],
  ['white space', ' nginx', /white space/],
  ['an inner space', 'ng inx', /path component|tag/],
  ['two @', `a@${D}@${D}`, /digest/],
];

for (const [name, input, message] of invalid) {
  t.test(`when the reference has ${name} then it is rejected with a clear reason`, async (t) => {
    t.throws(() => parseImageReference(input), InvalidReferenceError);
    try {
      parseImageReference(input);
    } catch (err) {
      t.ok(err instanceof ConfigError, 'a configuration error');
      t.match((err as Error).message, message);
      t.equal((err as InvalidReferenceError).reference, input);
    }
    t.equal(tryParseImageReference(input), undefined);
  });
}

t.test(
  'when the repository path is exactly 255 characters then the registry host does not count',
  async (t) => {
    // distribution/reference >= 0.6 and the kubelet limit the path: registry + path may exceed 255.
    const host = 'registry.example.com';
    const path = `team/${'a'.repeat(250)}`;
    const ref = parseImageReference(`${host}/${path}:1`);
    t.equal(ref.repository.length, 255);
    t.equal(repoKey(ref).length, 255 + host.length + 1, 'the full name is longer than 255');
    t.equal(parseImageReference(`${'h'.repeat(60)}.example.com:5000/${path}`).repository, path);
    t.throws(
      () => parseImageReference(`${host}/${path}a`),
      /repository path is 256 characters, longer than 255/,
    );
  },
);

t.test('when the image is on Docker Hub then the API host is registry-1.docker.io', async (t) => {
  t.equal(registryApiHost(parseImageReference('nginx').registry), 'registry-1.docker.io');
  t.equal(registryApiHost('index.docker.io'), 'registry-1.docker.io');
  t.equal(registryApiHost('ghcr.io'), 'ghcr.io');
  t.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
});

t.test('when images are matched by repoKey then only the same registry and repository match', async (t) => {
  const key = (s: string) => repoKey(parseImageReference(s));
  t.equal(key('nginx:1'), key('docker.io/library/nginx:2'));
  t.equal(key('nginx'), key(`index.docker.io/library/nginx@${D}`));
  t.not(key('registry:5000/app1'), key('registry:5000/app2'));
  t.not(key('app1'), key('app2'));
  t.not(key('registry:5000/x'), key('registry:5000/x/y'));
  t.not(key('ghcr.io/a/b'), key('docker.io/a/b'));
});

t.test('when there is no tag then the effective tag is latest', async (t) => {
  t.equal(effectiveTag(parseImageReference('nginx')), 'latest');
  t.equal(effectiveTag(parseImageReference(`nginx@${D}`)), 'latest');
  t.equal(effectiveTag(parseImageReference('nginx:1')), '1');
});

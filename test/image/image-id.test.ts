import t from 'tap';
import { parseImageID, runningDigest } from '../../lib/image/image-id.ts';

const H = 'c'.repeat(64);
const D = `sha256:${H}`;
const D512 = `sha512:${'d'.repeat(128)}`;

const cases: Array<[string, string, ReturnType<typeof parseImageID>]> = [
  [
    'containerd / CRI-O repo digest',
    `docker.io/library/nginx@${D}`,
    { kind: 'repo-digest', digest: D, repository: 'docker.io/library/nginx' },
  ],
  [
    'a repo digest on a registry with a port',
    `127.0.0.1:5000/team/app@${D}`,
    { kind: 'repo-digest', digest: D, repository: '127.0.0.1:5000/team/app' },
  ],
  [
    'dockershim docker-pullable',
    `docker-pullable://nginx@${D}`,
    { kind: 'repo-digest', digest: D, repository: 'nginx' },
  ],
  [
    'a sha512 repo digest',
    `quay.io/a/b@${D512}`,
    { kind: 'repo-digest', digest: D512, repository: 'quay.io/a/b' },
  ],
  ['docker:// config ID', `docker://${D}`, { kind: 'config-id', id: D }],
  ['a bare config digest', D, { kind: 'config-id', id: D }],
  ['a bare 64-hex image ID', H, { kind: 'config-id', id: D }],
  ['docker-pullable without a repository', `docker-pullable://${D}`, { kind: 'config-id', id: D }],
  ['an empty imageID (container not started)', '', { kind: 'unknown' }],
  ['white space only', '   ', { kind: 'unknown' }],
  ['a truncated digest', `nginx@sha256:${'c'.repeat(63)}`, { kind: 'unknown' }],
  ['upper-case hex', `nginx@sha256:${'C'.repeat(64)}`, { kind: 'unknown' }],
  ['an unknown algorithm', `nginx@md5:${'c'.repeat(32)}`, { kind: 'unknown' }],
  ['an unknown scheme', `containerd://nginx@${D}`, { kind: 'unknown' }],
  ['a tag, not a digest', 'nginx:1.2', { kind: 'unknown' }],
  ['a digest without an algorithm', `nginx@${H}`, { kind: 'unknown' }],
];

for (const [name, input, want] of cases) {
  t.test(`when the imageID is ${name} then it is classified ${want.kind}`, async (t) => {
    t.same(parseImageID(input), want);
    t.equal(runningDigest(input), want.kind === 'repo-digest' ? want.digest : undefined);
  });
}

t.test('when the imageID is not a string then it is unknown rather than a crash', async (t) => {
  t.same(parseImageID(undefined as unknown as string), { kind: 'unknown' });
  t.same(parseImageID(42 as unknown as string), { kind: 'unknown' });
});

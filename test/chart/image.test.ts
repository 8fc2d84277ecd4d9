// The container image, checked without a Docker daemon (none here can pull base images): the Dockerfile's
// invariants, and that the esbuild bundle it ships runs on its own, with no node_modules next to it.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { bundle } from '../../scripts/build.ts';
import { NODE_ENV, NODE_FLAGS } from '../../scripts/runtime-flags.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
// Instructions with continuation lines joined, comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const args = Object.fromEntries(
  instructions
    .filter((l) => /^ARG \w+=/.test(l))
    .map((l) => /^ARG (\w+)=(.*)$/.exec(l)!.slice(1, 3) as [string, string]),
);
const stages = instructions.filter((l) => /^FROM /i.test(l));
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));

t.test(
  'when the Dockerfile is read then it is multi-stage and every base image is pinned, never latest',
  async (t) => {
    t.ok(stages.length >= 2, 'a builder stage and a runtime stage');
    for (const from of stages) {
      const image = from.split(/\s+/)[1]!.replace(/^\$\{(\w+)\}$/, (_, name: string) => args[name] ?? '');
      t.match(image, /^[^:@\s]+(:[\w.-]+|@sha256:[a-f0-9]{64})/, `${image} has a tag or digest`);
      t.notMatch(image, /:latest\b/, `${image} is not :latest`);
      t.match(image, /^node:24\.\d+\.\d+-/, `${image} pins an exact Node 24 release`);
    }
  },
);

t.test('when the runtime stage is read then it runs node on the bin shim as numeric non-root', async (t) => {
  const user = finalStage.filter((l) => l.startsWith('USER ')).at(-1);
  t.match(user, /^USER \d+(:\d+)?$/, 'USER is numeric (runAsNonRoot can verify it)');
  t.notMatch(user, /^USER 0(:|$)/, 'USER is not root');
  t.equal(user, 'USER 65532:65532', 'the uid the chart runs as');
  const entrypoint = finalStage.filter((l) => l.startsWith('ENTRYPOINT ')).at(-1) ?? '';
  t.same(
    JSON.parse(entrypoint.slice('ENTRYPOINT '.length)),
    ['node', ...NODE_FLAGS, '/app/bin/k8s-auto-updater.js'],
    'exec form, with the Node flags the benchmark measures (scripts/runtime-flags.ts)',
  );
  for (const [k, v] of Object.entries(NODE_ENV)) {
    t.ok(
      finalStage.some((l) => l.includes(`${k}=${v}`)),
      `ENV ${k}=${v}, as the benchmark runs`,
    );
  }
  t.notOk(
    finalStage.some((l) => /^COPY (?!--from=)/.test(l)),
    'the runtime copies only from the builder',
  );
  t.notOk(
    finalStage.some((l) => /npm (ci|install)/.test(l)),
    'no dependency install in the runtime stage',
  );
  t.ok(
    finalStage.some((l) => /HOME=\/tmp/.test(l)),
    'HOME points at the writable /tmp',
  );
  for (const label of ['title', 'source', 'licenses', 'version', 'revision']) {
    t.match(dockerfile, `org.opencontainers.image.${label}=`, `OCI label ${label}`);
  }
});

t.test(
  'when .dockerignore is read then the build context is an allow-list without secrets or node_modules',
  async (t) => {
    const lines = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
    t.equal(lines[0], '*', 'everything is ignored first');
    for (const needed of ['package.json', 'package-lock.json', 'bin/', 'lib/', 'scripts/build.ts']) {
      t.ok(lines.includes(`!${needed}`), `${needed} is sent`);
    }
    t.notOk(
      lines.some((l) => /node_modules|\.git|\.env/.test(l) && l.startsWith('!')),
      'nothing private is sent',
    );
  },
);

t.test('when the CLI is bundled then it runs from bin/ with dist/ alone, as in the image', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bundle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const size = await bundle(join(dir, 'dist', 'cli.js'));
  t.ok(size > 0 && size < 20 * 1024 * 1024, `bundle size ${size} bytes`);
  t.ok(existsSync(join(dir, 'dist', 'cli.js.map')), 'a linked source map');
  cpSync(join(root, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const run = (...argv: string[]) =>
    spawnSync(process.execPath, [join(dir, 'bin', 'k8s-auto-updater.js'), ...argv], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: dir },
      timeout: 30_000,
    });
  const version = run('--version');
  t.equal(version.status, 0, version.stderr);
  t.equal(version.stdout.trim(), pkg.version);
  const status = run('status', '--schedule', '@daily', '-o', 'json', '--next', '1');
  t.equal(status.status, 0, status.stderr);
  t.equal(JSON.parse(status.stdout).kind, 'Schedule', 'cron-parser and the status command are in the bundle');
  const bad = run('status', '--schedule', '0 0 3 * * *');
  t.equal(bad.status, 2, 'a configuration error exits 2 from the bundle too');
});

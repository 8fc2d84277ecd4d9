// Option parsing and validation: every option type from a flag and from its environment twin, precedence
// (flag, then environment, then default), bounds, and cross-option rules, each failing with a message that names
// where the bad value came from and how to fix it.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import t, { type Test } from 'tap';
import { mergeOptions, parseOptionValue, toRunConfig } from '../../lib/config/config.ts';
import { envName, OPTIONS } from '../../lib/config/options.ts';
import { ConfigError } from '../../lib/shared/errors.ts';

type Raw = Record<string, string | boolean | string[] | undefined>;

/** The validated run config for command-line values `cli` and environment `env`. */
function config(cli: Raw = {}, env: NodeJS.ProcessEnv = {}) {
  return toRunConfig(mergeOptions('run', cli, env));
}

/** The ConfigError message for cli/env, or a failure when there is none. */
function configError(t: Test, cli: Raw, env: NodeJS.ProcessEnv = {}): string {
  try {
    config(cli, env);
  } catch (e) {
    t.type(e, ConfigError, 'a ConfigError (exit 2)');
    return (e as Error).message;
  }
  t.fail(`no error for ${JSON.stringify({ cli, env })}`);
  return '';
}

t.test('when nothing is given then every option has its documented default', async (t) => {
  const c = config();
  t.same(c.namespace, []);
  t.equal(c.allNamespaces, false);
  t.equal(c.optIn, false);
  t.equal(c.mode, 'registry');
  t.equal(c.dryRun, false);
  t.equal(c.maxRestarts, 0);
  t.equal(c.parallelWorkloads, 4);
  t.equal(c.podTimeout, 300_000);
  t.equal(c.evictionTimeout, 120_000);
  t.equal(c.events, true);
  t.equal(c.registryConcurrency, 8);
  t.equal(c.registryTimeout, 15_000);
  t.same(c.insecureRegistry, []);
  t.equal(c.output, 'text');
  t.equal(c.logLevel, 'info');
  t.equal(c.logFormat, 'auto');
  t.equal(c.registryCa, undefined);
  t.equal(c.selector, undefined);
});

t.test(
  'when a flag and its environment twin are both given then the flag wins, and the twin beats the default',
  async (t) => {
    const cases: Array<{
      key: string;
      flag: string | boolean | string[];
      env: string;
      want: [unknown, unknown];
    }> = [
      { key: 'maxRestarts', flag: '5', env: '3', want: [5, 3] },
      { key: 'podTimeout', flag: '90s', env: '2m', want: [90_000, 120_000] },
      { key: 'output', flag: 'json', env: 'text', want: ['json', 'text'] },
      { key: 'dryRun', flag: false, env: 'true', want: [false, true] },
      { key: 'events', flag: true, env: 'false', want: [true, false] },
      { key: 'namespace', flag: ['a'], env: 'b,c', want: [['a'], ['b', 'c']] },
      { key: 'selector', flag: 'app=web', env: 'app=api', want: ['app=web', 'app=api'] },
    ];
    for (const c of cases) {
      const spec = OPTIONS.find((o) => o.key === c.key)!;
      const env = { [envName(spec.flag)]: c.env };
      const both: Record<string, unknown> = config({ [c.key]: c.flag }, env);
      const envOnly: Record<string, unknown> = config({}, env);
      t.same(both[c.key], c.want[0], `--${spec.flag} beats ${envName(spec.flag)}`);
      t.same(envOnly[c.key], c.want[1], `${envName(spec.flag)} beats the default`);
    }
  },
);

t.test('when an environment twin is empty then the default applies', async (t) => {
  t.equal(config({}, { AUTO_UPDATER_MAX_RESTARTS: '' }).maxRestarts, 0);
  t.equal(config({}, { AUTO_UPDATER_OUTPUT: '' }).output, 'text');
});

t.test('every option has an environment twin by the one rule, and it is read', async (t) => {
  for (const spec of OPTIONS) {
    if (!spec.commands.includes('run')) continue;
    t.match(envName(spec.flag), /^AUTO_UPDATER_[A-Z0-9_]+$/);
    const sample: Record<string, string> = {
      string: spec.key === 'namespaceRegex' ? 'team-.*' : spec.key === 'platform' ? 'linux/arm64' : 'x',
      'string[]': 'one,two',
      boolean: 'true',
      integer: String(spec.min ?? 1),
      duration: '7s',
      enum: spec.choices?.[spec.choices.length - 1] ?? '',
    };
    const raw = sample[spec.type]!;
    const merged: Record<string, unknown> = mergeOptions('run', {}, { [envName(spec.flag)]: raw });
    t.same(merged[spec.key], parseOptionValue(spec, raw, true), `${envName(spec.flag)} sets ${spec.key}`);
  }
});

t.test('booleans accept true/false, 1/0, yes/no, on/off from the environment', async (t) => {
  for (const [raw, want] of [
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['No', false],
    ['off', false],
  ] as const) {
    t.equal(config({}, { AUTO_UPDATER_DRY_RUN: raw }).dryRun, want, `"${raw}"`);
  }
  const msg = configError(t, {}, { AUTO_UPDATER_DRY_RUN: 'maybe' });
  t.match(msg, 'environment variable AUTO_UPDATER_DRY_RUN');
  t.match(msg, /use true or false/);
});

t.test('string lists split on commas and repeats, dropping blanks', async (t) => {
  t.same(config({ namespace: ['a', 'b,c', ' d '] }).namespace, ['a', 'b', 'c', 'd']);
  t.same(config({}, { AUTO_UPDATER_NAMESPACE: 'a, b,,c' }).namespace, ['a', 'b', 'c']);
  t.same(config({}, { AUTO_UPDATER_INSECURE_REGISTRY: 'reg.local:5000,10.0.0.1' }).insecureRegistry, [
    'reg.local:5000',
    '10.0.0.1',
  ]);
});

t.test('integers are whole numbers within their bounds', async (t) => {
  t.equal(config({ parallelWorkloads: '64' }).parallelWorkloads, 64, 'the maximum is allowed');
  t.equal(config({ parallelWorkloads: '1' }).parallelWorkloads, 1, 'the minimum is allowed');
  const cases: Array<[Raw, NodeJS.ProcessEnv, RegExp]> = [
    [{ parallelWorkloads: '65' }, {}, /--parallel-workloads: 65 is above the maximum 64/],
    [{ parallelWorkloads: '0' }, {}, /--parallel-workloads: 0 is below the minimum 1/],
    [
      {},
      { AUTO_UPDATER_MAX_RESTARTS: '-1' },
      /environment variable AUTO_UPDATER_MAX_RESTARTS: -1 is below the minimum 0/,
    ],
    [{ maxRestarts: '2.5' }, {}, /--max-restarts: "2.5" is not a whole number/],
    [
      {},
      { AUTO_UPDATER_REGISTRY_CONCURRENCY: 'ten' },
      /AUTO_UPDATER_REGISTRY_CONCURRENCY: "ten" is not a whole number/,
    ],
    [{ registryConcurrency: '257' }, {}, /--registry-concurrency: 257 is above the maximum 256/],
  ];
  for (const [cli, env, re] of cases) t.match(configError(t, cli, env), re);
});

t.test('durations take units or seconds, and have minimums', async (t) => {
  t.equal(config({ podTimeout: '1h30m' }).podTimeout, 5_400_000);
  t.equal(config({ podTimeout: '45' }).podTimeout, 45_000, 'a bare number is seconds');
  t.equal(config({}, { AUTO_UPDATER_REGISTRY_TIMEOUT: '250ms' }).registryTimeout, 250);
  t.equal(config({ evictionTimeout: '0s' }).evictionTimeout, 0, 'no retrying at all is allowed');
  const cases: Array<[Raw, NodeJS.ProcessEnv, RegExp]> = [
    [{ podTimeout: '5 minutes' }, {}, /--pod-timeout: "5 minutes" is not a duration: use e\.g\. 90s/],
    [{}, { AUTO_UPDATER_POD_TIMEOUT: '-5s' }, /AUTO_UPDATER_POD_TIMEOUT: .*not a duration/],
    [{ podTimeout: '500ms' }, {}, /--pod-timeout: 500ms is shorter than the minimum/],
    [
      {},
      { AUTO_UPDATER_REGISTRY_TIMEOUT: '10ms' },
      /AUTO_UPDATER_REGISTRY_TIMEOUT: 10ms is shorter than the minimum/,
    ],
  ];
  for (const [cli, env, re] of cases) t.match(configError(t, cli, env), re);
});

t.test('enums accept only their choices and say which', async (t) => {
  t.equal(config({}, { AUTO_UPDATER_MODE: 'docker' }).mode, 'docker');
  t.match(configError(t, { output: 'yaml' }), /--output: "yaml" is not one of text, json/);
  t.match(
    configError(t, {}, { AUTO_UPDATER_LOG_LEVEL: 'verbose' }),
    /environment variable AUTO_UPDATER_LOG_LEVEL: "verbose" is not one of trace, debug, info, warn, error, silent/,
  );
  t.match(
    configError(t, {}, { AUTO_UPDATER_MODE: 'Registry' }),
    /AUTO_UPDATER_MODE/,
    'choices are case-sensitive',
  );
});

t.test('strings must not be blank', async (t) => {
  t.match(configError(t, { selector: '  ' }), /--selector: must not be empty/);
});

t.test('cross-option rules name the options and the fix', async (t) => {
  t.match(
    configError(t, { namespace: ['a'], allNamespaces: true }),
    /--namespace and --all-namespaces cannot be combined/,
  );
  t.match(
    configError(t, { allNamespaces: true }, { AUTO_UPDATER_NAMESPACE_REGEX: 'a.*' }),
    /--all-namespaces and environment variable AUTO_UPDATER_NAMESPACE_REGEX cannot be combined: choose one/,
  );
  t.match(
    configError(t, { namespaceRegex: 'team-(' }),
    /--namespace-regex: "team-\(" is not a valid regular expression/,
  );
  t.match(configError(t, { namespace: ['Shop_1'] }), /--namespace: "Shop_1" is not a valid namespace name/);
  t.match(
    configError(t, { insecureRegistry: ['http://reg:5000'] }),
    /--insecure-registry: "http:\/\/reg:5000" is not a registry host: give host or host:port, no scheme or path/,
  );
  t.match(
    configError(t, { mode: 'docker', dockerHost: '/var/run/docker.sock' }),
    /--docker-host: .*unix:\/\/\//,
  );
  t.match(
    configError(t, { mode: 'docker', dockerTlsVerify: true }),
    /--docker-tls-verify needs --docker-cert-path/,
  );
  t.match(configError(t, { platform: 'arm64' }), /--platform: "arm64" is not os\/arch/);
});

t.test(
  'when the Docker engine is plain tcp:// without the opt-in then it is refused: pull secrets would go in clear',
  async (t) => {
    const msg = configError(t, { mode: 'docker', dockerHost: 'tcp://10.0.0.5:2375' });
    t.match(
      msg,
      /^--docker-host: "tcp:\/\/10\.0\.0\.5:2375" without TLS would send the pods' pull secrets in clear/,
    );
    t.match(
      msg,
      /--docker-tls-verify with --docker-cert-path, or --docker-allow-plaintext \(AUTO_UPDATER_DOCKER_ALLOW_PLAINTEXT\)/,
    );
    t.match(
      configError(t, {}, { AUTO_UPDATER_MODE: 'docker', AUTO_UPDATER_DOCKER_HOST: 'tcp://dind:2375' }),
      /^environment variable AUTO_UPDATER_DOCKER_HOST: "tcp:\/\/dind:2375" without TLS/,
    );
    t.equal(
      config({ mode: 'docker', dockerHost: 'tcp://10.0.0.5:2375', dockerAllowPlaintext: true }, {})
        .dockerAllowPlaintext,
      true,
      'the explicit opt-in is accepted',
    );
    t.equal(
      config(
        {},
        {
          AUTO_UPDATER_MODE: 'docker',
          AUTO_UPDATER_DOCKER_HOST: 'tcp://dind:2375',
          AUTO_UPDATER_DOCKER_ALLOW_PLAINTEXT: 'true',
        },
      ).dockerHost,
      'tcp://dind:2375',
      'the environment twin opts in too',
    );
    t.equal(
      config(
        { mode: 'docker', dockerHost: 'tcp://engine:2376', dockerTlsVerify: true, dockerCertPath: '/certs' },
        {},
      ).dockerTlsVerify,
      true,
      'tcp:// with TLS needs no opt-in',
    );
    t.equal(
      config({ mode: 'docker' }, {}).dockerAllowPlaintext,
      false,
      'off by default; the unix socket needs none',
    );
  },
);

t.test(
  'when a Docker cert path is given without TLS verification then it is an error, not ignored',
  async (t) => {
    t.match(
      configError(t, {
        mode: 'docker',
        dockerHost: 'tcp://engine:2376',
        dockerCertPath: '/certs',
        dockerAllowPlaintext: true,
      }),
      /^--docker-cert-path is set but --docker-tls-verify is not: the certificates would be ignored/,
    );
    t.match(
      configError(t, { mode: 'docker', dockerCertPath: '/certs' }),
      /set --docker-tls-verify \(AUTO_UPDATER_DOCKER_TLS_VERIFY\) or drop the cert path/,
    );
  },
);

t.test('when a value came from the environment then the error names the environment variable', async (t) => {
  t.match(
    configError(t, {}, { AUTO_UPDATER_NAMESPACE: 'Not_Valid' }),
    /environment variable AUTO_UPDATER_NAMESPACE/,
  );
  t.match(
    configError(t, {}, { AUTO_UPDATER_INSECURE_REGISTRY: 'https://x' }),
    /environment variable AUTO_UPDATER_INSECURE_REGISTRY/,
  );
  t.match(
    configError(t, {}, { AUTO_UPDATER_NAMESPACE_REGEX: '(' }),
    /environment variable AUTO_UPDATER_NAMESPACE_REGEX/,
  );
  t.match(configError(t, {}, { AUTO_UPDATER_PLATFORM: 'x' }), /environment variable AUTO_UPDATER_PLATFORM/);
  t.match(
    configError(t, {}, { AUTO_UPDATER_REGISTRY_CA: '/no/such/ca.pem' }),
    /environment variable AUTO_UPDATER_REGISTRY_CA/,
  );
  t.match(
    configError(t, { namespace: ['a'] }, { AUTO_UPDATER_ALL_NAMESPACES: 'true' }),
    /environment variable AUTO_UPDATER_ALL_NAMESPACES/,
  );
});

t.test('files given as options must be readable, and the message says which and how to fix it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'config-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, `${rootCertificates[0]}\n${rootCertificates[1]}\n`);
  t.equal(config({ registryCa: ca }).registryCa, ca);
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'not a certificate');
  t.match(configError(t, { registryCa: notPem }), /--registry-ca: .*not\.pem holds no PEM certificate/);
  const broken = join(dir, 'broken.pem');
  writeFileSync(
    broken,
    `${rootCertificates[0]}\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`,
  );
  t.match(
    configError(t, { registryCa: broken }),
    /--registry-ca: certificate 2 in .*broken\.pem is not valid/,
  );
  t.match(
    configError(t, { registryCa: join(dir, 'missing.pem') }),
    /--registry-ca: cannot read .*missing\.pem.*ENOENT/,
  );
  t.match(
    configError(t, { dockerConfig: join(dir, 'nope.json') }),
    /--docker-config: cannot read .*nope\.json/,
  );
});

t.test('when a label selector is malformed then it is a configuration error naming --selector', async (t) => {
  for (const good of [
    'app=web',
    'app==web,tier!=db',
    'app in (web, api),env notin (dev)',
    '!canary',
    'canary',
    'example.com/team=a-b_c.d',
    'app=',
  ]) {
    t.equal(config({ selector: good }).selector, good, `"${good}" is valid`);
  }
  for (const bad of [
    'app in (web',
    'app=web,',
    'a b',
    'app=in valid',
    'app!web',
    '=web',
    'app=web)',
    '-bad=x',
    'app in ()',
  ]) {
    t.match(
      configError(t, { selector: bad }),
      /--selector: .*not a valid label selector/,
      `"${bad}" is refused`,
    );
  }
  t.match(
    configError(t, {}, { AUTO_UPDATER_SELECTOR: 'x in (' }),
    /environment variable AUTO_UPDATER_SELECTOR/,
  );
});

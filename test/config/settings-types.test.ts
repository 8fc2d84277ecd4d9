// The settings types are derived from the option table: the TypeScript checker itself is run over a small consumer
// of RunConfig/StatusConfig, once with the real table and once with an option renamed in it. The table also says
// which options a `serve` request may set; trust and endpoints are never among them.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';
import { OPTIONS, REQUEST_OPTIONS } from '../../lib/config/options.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OPTIONS_FILE = `${ROOT}lib/config/options.ts`;
const CONSUMER = `${ROOT}test/config/__consumer__.ts`;

// Uses the way lib/ does: a required number, an optional string, an enum union; status lacks run's options.
const consumer = `
import type { RunConfig, StatusConfig } from '../../lib/config/config.ts';
declare const r: RunConfig;
declare const s: StatusConfig;
export const timeout: number = r.podTimeout;
export const level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent' = r.logLevel;
export const mode: 'registry' | 'docker' = r.mode;
export const ca: string | undefined = r.registryCa;
export const namespaces: string[] = r.namespace;
// @ts-expect-error an option without a default is optional (unset)
export const caRequired: string = r.registryCa;
// @ts-expect-error a log level outside the table's choices
export const bad: typeof r.logLevel = 'verbose';
export const cronjob: string = s.cronjob;
// @ts-expect-error status does not take run's options
export const statusTimeout = s.podTimeout;
`;

/** Type-checks the consumer against the project's sources, with options.ts replaced by `optionsText`. */
function diagnostics(optionsText: string): string[] {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  host.readFile = (file) => (file === OPTIONS_FILE ? optionsText : file === CONSUMER ? consumer : read(file));
  const exists = host.fileExists.bind(host);
  host.fileExists = (file) => file === CONSUMER || exists(file);
  const program = ts.createProgram([CONSUMER], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === CONSUMER)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const table = readFileSync(OPTIONS_FILE, 'utf8');

t.test(
  'when the option table is unchanged then the derived settings type-check as lib uses them',
  async (t) => {
    t.same(diagnostics(table), [], 'no diagnostic (and every @ts-expect-error above is needed)');
  },
);

t.test(
  'when an option is renamed in the table then code using the old name no longer compiles',
  async (t) => {
    const renamed = table.replace("key: 'podTimeout',", "key: 'replacementTimeout',");
    t.not(renamed, table, 'the rename applied');
    const found = diagnostics(renamed);
    t.equal(found.length, 1, found.join('\n'));
    t.match(found[0], /Property 'podTimeout' does not exist/);
  },
);

t.test(
  'when an option is retyped in the table then code expecting the old type no longer compiles',
  async (t) => {
    const retyped = table.replace(
      "choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'],",
      "choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent', 'verbose'],",
    );
    t.not(retyped, table, 'the new choice applied');
    const found = diagnostics(retyped);
    t.equal(found.length, 2, found.join('\n'));
    t.match(found.join('\n'), /Unused '@ts-expect-error' directive/, "'verbose' is now a valid level");
    t.match(
      found.join('\n'),
      /Type '"verbose"' is not assignable/,
      'the narrower declared type no longer fits',
    );
  },
);

t.test('when the settings modules are read then they hold no double cast', async (t) => {
  for (const file of ['lib/config/config.ts', 'lib/config/options.ts']) {
    t.notMatch(readFileSync(`${ROOT}${file}`, 'utf8'), /as unknown as/, file);
  }
});

// Trust anchors, endpoints and credentials belong to whoever runs the server.
const NEVER_BY_REQUEST = [
  'registryCa',
  'insecureRegistry',
  'dockerHost',
  'dockerConfig',
  'dockerCertPath',
  'dockerTlsVerify',
  'kubeconfig',
  'context',
];

t.test(
  'when a serve request sets options then it can set exactly the marked ones, never trust or endpoints',
  async (t) => {
    // A key once: run's namespace list and status's one namespace are two entries of the same option.
    const keys = [...new Set(REQUEST_OPTIONS.map((o) => o.key))];
    for (const key of NEVER_BY_REQUEST)
      t.ok(
        OPTIONS.some((o) => o.key === key),
        `${key} is in the table`,
      );
    t.same(
      keys.filter((k) => NEVER_BY_REQUEST.includes(k)),
      [],
      'no CA file, insecure registry, docker host/config/TLS or kubeconfig',
    );
    t.same(keys, [
      'namespace',
      'selector',
      'optIn',
      'dryRun',
      'maxRestarts',
      'parallelWorkloads',
      'podTimeout',
      'evictionTimeout',
      'events',
      'cronjob',
      'next',
      'schedule',
      'timeZone',
    ]);
    // One option may have several entries (run's namespace list, status's one namespace): they agree, so a request
    // cannot reach through one entry what another entry of the same option refuses.
    for (const key of keys)
      t.ok(
        OPTIONS.filter((o) => o.key === key).every((o) => o.request === true),
        `every entry of ${key} is marked request: true`,
      );
  },
);

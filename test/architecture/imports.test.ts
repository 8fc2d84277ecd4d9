// The import direction of lib/, checked on every file's import specifiers (static, re-exports and dynamic import()):
//
//   cli, serve  →  jobs, status (use cases)  →  plan, policy, apply, sources, report  →  kube, registry  →  image  →  model, shared
//
// A folder imports only folders of lower layers (and itself); config (the option table and its parsing) is for the
// adapters and use cases, and for digest sources as types only. The planner does no I/O: no fs/net/http/https/tls/
// child_process, no package that does I/O; the version policies (lib/policy) likewise, with semver as their one package.
// A failure names the file and the import.

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LIB = join(ROOT, 'lib');

/** Layer of each lib/ folder: imports go to strictly lower layers (or stay in the folder). */
const LAYERS: Record<string, number> = {
  cli: 6,
  serve: 6,
  jobs: 5,
  status: 5,
  plan: 4,
  policy: 4,
  apply: 4,
  sources: 4,
  report: 4,
  kube: 3,
  registry: 3,
  image: 2,
  model: 1,
  shared: 1,
};

/** config sits beside the layers: who may import it, and whether only its types. */
const CONFIG_USERS: Record<string, 'value' | 'type'> = {
  cli: 'value',
  serve: 'value',
  jobs: 'value',
  status: 'value',
  sources: 'type',
};

/** Upward or sideways edges allowed on purpose, type-only, each with its reason. */
const TYPE_ONLY_EXCEPTIONS: readonly { from: string; to: string; why: string }[] = [
  { from: 'model', to: 'image', why: 'a Candidate (lib/model/candidate.ts) carries a parsed ImageReference' },
];

/** Folders that decide without I/O (the planner, the version policies), with the pure packages each may use. */
const PURE: Record<string, readonly string[]> = { plan: [], policy: ['semver'] };

/** Folders that do I/O: the pure folders import none of them, not even below their layer (not even types). */
const PLAN_NEVER = new Set(['kube', 'registry', 'sources', 'apply']);

/** Node built-ins that do I/O: the planner must not import them. */
const IO_BUILTINS = new Set([
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'tls',
  'dgram',
  'dns',
  'dns/promises',
  'child_process',
  'worker_threads',
  'cluster',
]);

export interface Import {
  specifier: string;
  typeOnly: boolean;
  line: number;
}

/** Every module specifier a TypeScript source imports, re-exports or import()s. */
export function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const add = (node: ts.Node, spec: ts.Expression | undefined, typeOnly: boolean) => {
    if (!spec || !ts.isStringLiteralLike(spec)) return;
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    out.push({ specifier: spec.text, typeOnly, line });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings : undefined;
      // `import { type A, type B }` is erased like `import type { A, B }`; a bare `import 'x'` is not.
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name && !!named && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier, typeOnly);
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause && ts.isNamedExports(node.exportClause) ? node.exportClause : undefined;
      const typeOnly =
        node.isTypeOnly ||
        (!!named && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly));
      add(node, node.moduleSpecifier, typeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal as ts.Expression, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The lib/ folder a lib-relative path belongs to (`kube` for `kube/rest.ts`); undefined for lib/ root files. */
function folderOf(libRelative: string): string | undefined {
  const parts = libRelative.split('/');
  return parts.length > 1 ? parts[0] : undefined;
}

/** The rule violations of a set of lib/ files, keyed by lib-relative path; one line each, naming file and import. */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    const from = folderOf(file);
    if (from === undefined || (from !== 'config' && LAYERS[from] === undefined)) {
      out.push(
        `lib/${file}: lib/${from ?? file} is not in the layer table of test/architecture/imports.test.ts`,
      );
      continue;
    }
    for (const imp of importsOf(file, text)) {
      const where = `lib/${file}:${imp.line} imports '${imp.specifier}'`;
      const bare = imp.specifier.replace(/^node:/, '');
      const pure = PURE[from];
      if (pure && !imp.typeOnly) {
        if (IO_BUILTINS.has(bare)) {
          out.push(`${where}: the ${from === 'plan' ? 'planner' : `lib/${from} folder`} does no I/O`);
          continue;
        }
        const isPackage = !imp.specifier.startsWith('.') && !imp.specifier.startsWith('node:');
        if (isPackage && !pure.includes(imp.specifier)) {
          out.push(
            `${where}: the ${from === 'plan' ? 'planner' : `lib/${from} folder`} imports no package (only types)`,
          );
          continue;
        }
      }
      if (!imp.specifier.startsWith('.')) continue;
      const target = relative(LIB, resolve(dirname(join(LIB, file)), imp.specifier))
        .split('\\')
        .join('/');
      if (target.startsWith('..')) {
        if (!target.endsWith('package.json')) out.push(`${where}: lib/ imports nothing outside lib/`);
        continue;
      }
      const to = folderOf(target);
      if (to === from) continue;
      if (pure && to !== undefined && PLAN_NEVER.has(to)) {
        out.push(
          `${where}: the ${from === 'plan' ? 'planner' : `lib/${from} folder`} does no I/O; take plain data from lib/model instead`,
        );
        continue;
      }
      if (to === undefined) {
        out.push(`${where}: lib/${target} is not in a layer folder`);
        continue;
      }
      if (to === 'config') {
        const may = CONFIG_USERS[from];
        if (may === 'value' || (may === 'type' && imp.typeOnly)) continue;
        out.push(
          may === 'type'
            ? `${where}: lib/${from} may import config types only (use import type)`
            : `${where}: lib/${from} may not depend on lib/config (pass the values it needs)`,
        );
        continue;
      }
      if (from === 'config') {
        if (to === 'shared') continue;
        out.push(`${where}: lib/config imports only lib/shared`);
        continue;
      }
      const fromLayer = LAYERS[from]!;
      const toLayer = LAYERS[to];
      if (toLayer === undefined) {
        out.push(`${where}: lib/${to} is not in the layer table`);
        continue;
      }
      if (toLayer < fromLayer) continue;
      if (imp.typeOnly && TYPE_ONLY_EXCEPTIONS.some((e) => e.from === from && e.to === to)) continue;
      out.push(
        `${where}: lib/${from} (layer ${fromLayer}) may not import lib/${to} (layer ${toLayer}); imports go down: cli → jobs/status → plan/apply/sources/report → kube/registry → image → model/shared`,
      );
    }
  }
  return out;
}

function libFiles(dir = LIB): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts')) continue;
    const path = join(e.parentPath, e.name);
    out.set(relative(LIB, path).split('\\').join('/'), readFileSync(path, 'utf8'));
  }
  return out;
}

t.test('when the checker reads synthetic files then it names each offending file and import', async (t) => {
  const bad = new Map([
    ['plan/planner.ts', "import { readFileSync } from 'node:fs';\nimport { x } from '../kube/api.ts';"],
    ['plan/other.ts', "import YAML from 'yaml';\nimport type { V1Pod } from '@kubernetes/client-node';"],
    [
      'sources/registry.ts',
      "import { OPTIONS } from '../config/options.ts';\nimport type { P } from '../plan/planner.ts';",
    ],
    ['report/output.ts', "export { summary } from '../status/record.ts';"],
    ['kube/pods.ts', "const m = await import('../jobs/restart-stale.ts');"],
    ['registry/client.ts', "import type { A } from '../kube/api.ts';"],
    [
      'model/plan.ts',
      "import { parse } from '../image/reference.ts';\nimport type { R } from '../image/reference.ts';",
    ],
    ['config/config.ts', "import { x } from '../kube/api.ts';"],
    ['apply/restarter.ts', "import { y } from '../config/config.ts';"],
    ['misc.ts', ''],
    [
      'cli/main.ts',
      "import { run } from '../jobs/restart-stale.ts';\nimport { c } from '../config/config.ts';",
    ],
  ]);
  const found = violations(bad);
  t.same(found, [
    "lib/plan/planner.ts:1 imports 'node:fs': the planner does no I/O",
    "lib/plan/planner.ts:2 imports '../kube/api.ts': the planner does no I/O; take plain data from lib/model instead",
    "lib/plan/other.ts:1 imports 'yaml': the planner imports no package (only types)",
    "lib/sources/registry.ts:1 imports '../config/options.ts': lib/sources may import config types only (use import type)",
    "lib/sources/registry.ts:2 imports '../plan/planner.ts': lib/sources (layer 4) may not import lib/plan (layer 4); imports go down: cli → jobs/status → plan/apply/sources/report → kube/registry → image → model/shared",
    "lib/report/output.ts:1 imports '../status/record.ts': lib/report (layer 4) may not import lib/status (layer 5); imports go down: cli → jobs/status → plan/apply/sources/report → kube/registry → image → model/shared",
    "lib/kube/pods.ts:1 imports '../jobs/restart-stale.ts': lib/kube (layer 3) may not import lib/jobs (layer 5); imports go down: cli → jobs/status → plan/apply/sources/report → kube/registry → image → model/shared",
    "lib/registry/client.ts:1 imports '../kube/api.ts': lib/registry (layer 3) may not import lib/kube (layer 3); imports go down: cli → jobs/status → plan/apply/sources/report → kube/registry → image → model/shared",
    "lib/model/plan.ts:1 imports '../image/reference.ts': lib/model (layer 1) may not import lib/image (layer 2); imports go down: cli → jobs/status → plan/apply/sources/report → kube/registry → image → model/shared",
    "lib/config/config.ts:1 imports '../kube/api.ts': lib/config imports only lib/shared",
    "lib/apply/restarter.ts:1 imports '../config/config.ts': lib/apply may not depend on lib/config (pass the values it needs)",
    'lib/misc.ts: lib/misc.ts is not in the layer table of test/architecture/imports.test.ts',
  ]);
});

t.test('when the real tree is read then the files the rules are about are there', async (t) => {
  // A tree read wrongly (no lib/plan, no lib/cli) would pass the check below vacuously.
  const files = libFiles();
  t.ok(files.has('plan/planner.ts'), 'lib/plan/planner.ts is read');
  t.ok([...files.keys()].filter((f) => f.startsWith('cli/')).length > 0, 'lib/cli files are read');
  const planner = files.get('plan/planner.ts')!;
  t.ok(importsOf('plan/planner.ts', planner).length > 0, 'the planner has imports to check');
});

t.test('when every lib/ file is checked then no import goes against the direction', async (t) => {
  const files = libFiles();
  t.ok(files.size > 40, `${files.size} files read`);
  t.same(violations(files), []);
});

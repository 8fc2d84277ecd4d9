// The project's whole test command (`npm test`): typecheck, lint and format check, then every tap test file.
// Prints a final line `N passed, N failed, N skipped` counting checks and top-level tests of each file, and exits
// non-zero when anything failed. Extra arguments are passed to tap (e.g. a test file to run just that one).

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Parser } from 'tap-parser';

const root = new URL('..', import.meta.url).pathname;
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const args = process.argv.slice(2);
const onlyTests = args.length > 0 || process.env.SKIP_CHECKS === '1';

interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}
const tally: Tally = { passed: 0, failed: 0, skipped: 0, failures: [] };

function run(cmd: string, argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: 'inherit', env: process.env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.on('error', () => resolve(127));
  });
}

async function check(name: string, cmd: string, argv: string[]): Promise<void> {
  process.stdout.write(`\n# check: ${name}\n`);
  const code = await run(cmd, argv);
  if (code === 0) tally.passed++;
  else {
    tally.failed++;
    tally.failures.push(`check ${name} (exit ${code})`);
  }
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.tap')) out.push(p);
  }
  return out;
}

/** Counts the top-level test points of one file's saved TAP output. */
function countFile(path: string): void {
  const name = relative(join(root, '.tap', 'test-results'), path).replace(/\.tap$/, '');
  const parser = new Parser();
  let points = 0;
  parser.on('assert', (a: { ok: boolean; name: string; skip?: unknown; todo?: unknown }) => {
    points++;
    if (a.skip || a.todo) tally.skipped++;
    else if (a.ok) tally.passed++;
    else {
      tally.failed++;
      tally.failures.push(`${name}: ${a.name}`);
    }
  });
  let bailed = false;
  parser.on('bailout', () => {
    bailed = true;
  });
  parser.end(readFileSync(path, 'utf8'));
  if (points === 0 || bailed) {
    tally.failed++;
    tally.failures.push(`${name}: produced no test results (crashed or bailed out)`);
  }
}

if (!onlyTests) {
  await check('typecheck', bin('tsc'), ['--noEmit', '-p', root]);
  await check('lint+format', bin('biome'), ['check', '.']);
}
const results = join(root, '.tap', 'test-results');
rmSync(results, { recursive: true, force: true });
// tap applies .taprc's plugin list (no ts-node: Node strips types itself) only after building its runner; on a
// fresh clone the first run would otherwise still load the TypeScript plugin and fail to compile every file.
const built = await run(bin('tap'), ['build']);
if (built !== 0) {
  tally.failed++;
  tally.failures.push(`tap build (exit ${built})`);
}
const tapCode = await run(bin('tap'), args);
let fileCount = 0;
try {
  for (const f of files(results)) {
    fileCount++;
    countFile(f);
  }
} catch {
  // no results directory: tap ran nothing
}
if (fileCount === 0) {
  tally.failed++;
  tally.failures.push('tap ran no test file');
} else if (tapCode !== 0 && tally.failed === 0) {
  tally.failed++;
  tally.failures.push(`tap exited ${tapCode}`);
}
if (tally.failures.length > 0) {
  process.stdout.write(`\n# failures:\n${tally.failures.map((f) => `#   ${f}`).join('\n')}\n`);
}
process.stdout.write(`\n${tally.passed} passed, ${tally.failed} failed, ${tally.skipped} skipped\n`);
process.exitCode = tally.failed > 0 ? 1 : 0;

// Finds the system binaries that integration tests need, and skips (or, in CI with CI_REQUIRE_INTEGRATION=1, fails)
// the test when one is missing, so a developer machine without them still runs the rest of the suite.

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The slice of a tap test that requireBin reports through (a tap `t` fits). */
export interface SkipOrFail {
  skip(name: string, cb: () => void): unknown;
  fail(message: string): unknown;
}

// Debian puts some daemons in sbin, which is not on a non-root user's PATH; scripts/fetch-tools.sh puts kubectl
// and helm in the checkout's .tools/bin.
const TOOLS_DIR = fileURLToPath(new URL('../../.tools/bin', import.meta.url));
const EXTRA_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/sbin', '/bin', TOOLS_DIR];

/** The absolute path of an executable named `name`, or undefined; never throws. */
export function findBin(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Whether an executable named `name` is available; never throws. */
export function haveBin(name: string): boolean {
  return findBin(name) !== undefined;
}

/**
 * The path of `name`, or undefined after skipping the test with a clear reason (failing it instead when
 * CI_REQUIRE_INTEGRATION=1, so CI cannot go green by silently skipping integration tests).
 */
export function requireBin(t: SkipOrFail, name: string): string | undefined {
  const path = findBin(name);
  if (path !== undefined) return path;
  const reason = `${name} not found on PATH, in /usr/bin, /usr/sbin or .tools/bin`;
  if (process.env.CI_REQUIRE_INTEGRATION === '1') t.fail(`${reason} (required: CI_REQUIRE_INTEGRATION=1)`);
  // A skipped subtest (its body never runs) is what tap counts and shows as SKIP with the reason.
  else t.skip(`${reason}: skipping`, () => {});
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

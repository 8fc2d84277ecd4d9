// The engines need root (dockerd, rootful podman): skip the test with a reason otherwise, or fail it in CI, with the
// same policy as requireBin.

import type { SkipOrFail } from '../require-bin.ts';

/** True when running as root; else skips the test (fails it with CI_REQUIRE_INTEGRATION=1) and returns false. */
export function requireRoot(t: SkipOrFail, what: string): boolean {
  if (process.getuid?.() === 0) return true;
  const reason = `${what} needs root (uid 0)`;
  if (process.env.CI_REQUIRE_INTEGRATION === '1') t.fail(`${reason} (required: CI_REQUIRE_INTEGRATION=1)`);
  else t.skip(`${reason}: skipping`, () => {});
  return false;
}

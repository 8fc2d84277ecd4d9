// The CLI adapter of the status use case (lib/status/status.ts): renders the report on stdout; exit code 0.

import type { StatusConfig } from '../config/config.ts';
import { EXIT } from '../shared/errors.ts';
import { renderJson, renderText } from '../status/render.ts';
import { readStatus, type StatusDeps } from '../status/status.ts';

export interface StatusCommandDeps extends StatusDeps {
  stdout: NodeJS.WritableStream;
}

/** Reads the status and prints it; errors (ConfigError, CronJobNotFoundError, KubeApiError) are main()'s to map. */
export async function runStatus(config: StatusConfig, deps: StatusCommandDeps): Promise<number> {
  const report = await readStatus(config, deps);
  deps.stdout.write(config.output === 'json' ? renderJson(report) : renderText(report));
  return EXIT.ok;
}

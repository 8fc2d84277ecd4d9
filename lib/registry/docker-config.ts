// Reads the optional mounted docker config (--docker-config) whose credentials docker mode tries after a pod's own.

import { readFileSync } from 'node:fs';
import { ConfigError } from '../shared/errors.ts';
import { type Credential, parseDockerConfig } from './credentials.ts';

/** The credentials in a docker config file, or none without a path; unreadable or empty files are ConfigErrors. */
export function readDockerConfigFile(path: string | undefined): Credential[] {
  if (!path) return [];
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    // Never echo the content: a JSON parse error quotes the input, which may hold a credential.
    const code = (e as NodeJS.ErrnoException).code ?? 'invalid JSON';
    throw new ConfigError(`--docker-config: ${path} is not a readable JSON docker config (${code})`);
  }
  const warnings: string[] = [];
  const entries = parseDockerConfig(json, `--docker-config ${path}`, warnings);
  if (entries.length === 0) {
    const why = warnings.length ? `: ${warnings.join('; ')}` : '';
    throw new ConfigError(`--docker-config: ${path} holds no usable credentials${why}`);
  }
  return entries;
}

// Turns flags and their environment twins into a validated config. Every bad value fails here, before any API call,
// with a ConfigError naming the flag or variable and the fix. Precedence: flag, then environment, then default.

import { X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync } from 'node:fs';
import { ConfigError } from '../shared/errors.ts';
import { parseDuration } from './duration.ts';
import { type Command, envName, OPTIONS, type OptionSpec, type SettingsOf } from './options.ts';
import { labelSelectorProblem } from './selector.ts';

/** The validated settings of `run`, derived from the option table (lib/config/options.ts). */
export type RunConfig = SettingsOf<'run'>;

/** The validated settings of `status`, derived from the option table. */
export type StatusConfig = SettingsOf<'status'>;

type Value = string | number | boolean | string[];

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

/** How a user names an option in an error: the flag, or the environment variable it came from. */
function origin(spec: OptionSpec, fromEnv: boolean): string {
  return fromEnv ? `environment variable ${envName(spec.flag)}` : `--${spec.flag}`;
}

/** Parses one raw value of an option; throws ConfigError naming where it came from. */
export function parseOptionValue(spec: OptionSpec, raw: string | boolean | string[], fromEnv = false): Value {
  const where = origin(spec, fromEnv);
  const fail = (why: string) => new ConfigError(`${where}: ${why}`);
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const v = String(raw).trim().toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      throw fail(`"${raw}" is not a boolean: use true or false`);
    }
    case 'string[]': {
      const parts = (Array.isArray(raw) ? raw : [String(raw)]).flatMap((s) => s.split(','));
      return parts.map((s) => s.trim()).filter((s) => s.length > 0);
    }
    case 'integer': {
      const s = String(raw).trim();
      if (!/^-?\d+$/.test(s)) throw fail(`"${raw}" is not a whole number`);
      const n = Number(s);
      if (spec.min !== undefined && n < spec.min) throw fail(`${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw fail(`${n} is above the maximum ${spec.max}`);
      return n;
    }
    case 'duration': {
      let ms: number;
      try {
        ms = parseDuration(String(raw));
      } catch (e) {
        throw fail((e as Error).message);
      }
      if (spec.min !== undefined && ms < spec.min)
        throw fail(`${raw} is shorter than the minimum ${spec.min} ms`);
      return ms;
    }
    case 'enum': {
      const v = String(raw).trim();
      if (!spec.choices?.includes(v)) throw fail(`"${raw}" is not one of ${spec.choices?.join(', ')}`);
      return v;
    }
    case 'string': {
      // The CLI collects every occurrence of a one-value flag: a second one is refused, never silently dropped.
      if (Array.isArray(raw) && raw.length > 1) {
        throw fail(`given ${raw.length} times (${raw.join(', ')}): give it once`);
      }
      const v = String(Array.isArray(raw) ? (raw[0] ?? '') : raw).trim();
      if (v === '') throw fail('must not be empty');
      return v;
    }
  }
}

// Which merged options came from the environment, so that later cross-option errors name the variable the user set.
const fromEnvironment = new WeakMap<object, Set<string>>();

/**
 * Merges command-line values (already collected by commander, raw strings) with environment twins and defaults.
 * `cli` holds only options the user actually gave on the command line.
 */
export function mergeOptions<C extends Command>(
  command: C,
  cli: Readonly<Record<string, string | boolean | string[] | undefined>>,
  env: NodeJS.ProcessEnv,
): SettingsOf<C> {
  const out: Record<string, Value> = {};
  const envKeys = new Set<string>();
  for (const spec of OPTIONS) {
    if (!spec.commands.includes(command)) continue;
    const given = cli[spec.key];
    const fromEnv = env[envName(spec.flag)];
    if (given !== undefined) out[spec.key] = parseOptionValue(spec, given, false);
    else if (fromEnv !== undefined && fromEnv !== '') {
      out[spec.key] = parseOptionValue(spec, fromEnv, true);
      envKeys.add(spec.key);
    } else if (spec.default !== undefined) out[spec.key] = structuredClone(spec.default) as Value;
  }
  fromEnvironment.set(out, envKeys);
  // The loop above visits exactly the table entries SettingsOf<C> is derived from, and parseOptionValue returns each
  // entry's value type (test/config/config.test.ts checks keys and types for every command).
  return out as SettingsOf<C>;
}

/** How to name an option in an error about a merged value: its flag, or the environment variable it came from. */
function namer(v: object): (key: string) => string {
  const envKeys = fromEnvironment.get(v);
  return (key) => {
    const spec = OPTIONS.find((o) => o.key === key);
    if (!spec) return key;
    return origin(spec, envKeys?.has(key) ?? false);
  };
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/;

function readable(file: string, where: string): void {
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    throw new ConfigError(
      `${where}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}; give a readable file`,
      { cause: e },
    );
  }
}

// A CA file that holds no certificate would only show up later as every TLS registry failing; refuse it now.
function certificates(file: string, where: string): void {
  const pem = readFileSync(file, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(
      `${where}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the registry's CA in PEM form`,
    );
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (e) {
      throw new ConfigError(
        `${where}: certificate ${i + 1} in ${file} is not valid (${(e as Error).message}); give the registry's CA in PEM form`,
        { cause: e },
      );
    }
  });
}

/** Validates a run config (cross-option rules and files); throws ConfigError. */
export function toRunConfig(c: RunConfig): RunConfig {
  const name = namer(c);
  const scopes = [
    c.namespace.length > 0 && name('namespace'),
    c.allNamespaces && name('allNamespaces'),
    c.namespaceRegex && name('namespaceRegex'),
  ].filter(Boolean);
  if (scopes.length > 1) {
    throw new ConfigError(`${scopes.join(' and ')} cannot be combined: choose one way to select namespaces`);
  }
  if (c.namespaceRegex !== undefined) {
    try {
      new RegExp(`^(?:${c.namespaceRegex})$`);
    } catch (e) {
      throw new ConfigError(
        `${name('namespaceRegex')}: "${c.namespaceRegex}" is not a valid regular expression: ${(e as Error).message}`,
      );
    }
  }
  if (c.selector !== undefined) {
    const why = labelSelectorProblem(c.selector);
    if (why) {
      throw new ConfigError(
        `${name('selector')}: "${c.selector}" is not a valid label selector: ${why}. Example: "app in (web,api),tier!=db"`,
      );
    }
  }
  for (const ns of c.namespace) namespaceName(ns, name('namespace'));
  for (const host of c.insecureRegistry) {
    if (!HOST_PORT.test(host)) {
      throw new ConfigError(
        `${name('insecureRegistry')}: "${host}" is not a registry host: give host or host:port, no scheme or path`,
      );
    }
  }
  if (c.registryCa) {
    readable(c.registryCa, name('registryCa'));
    certificates(c.registryCa, name('registryCa'));
  }
  if (c.dockerConfig) readable(c.dockerConfig, name('dockerConfig'));
  if (c.mode === 'docker') {
    if (!/^(unix:\/\/\/.+|tcp:\/\/[^/]+|npipe:\/\/.+)$/.test(c.dockerHost)) {
      throw new ConfigError(
        `${name('dockerHost')}: "${c.dockerHost}" must be unix:///path/to/docker.sock or tcp://host:port`,
      );
    }
    if (c.dockerTlsVerify && !c.dockerCertPath) {
      throw new ConfigError(
        `${name('dockerTlsVerify')} needs --docker-cert-path (a directory with ca.pem, cert.pem, key.pem)`,
      );
    }
    if (c.dockerCertPath && !c.dockerTlsVerify) {
      throw new ConfigError(
        `${name('dockerCertPath')} is set but ${name('dockerTlsVerify')} is not: the certificates would be ignored and the engine spoken to without TLS; set --docker-tls-verify (AUTO_UPDATER_DOCKER_TLS_VERIFY) or drop the cert path`,
      );
    }
    // X-Registry-Auth carries the pods' pull secrets: over plain TCP anyone on the path reads them.
    if (c.dockerHost.startsWith('tcp://') && !c.dockerTlsVerify && !c.dockerAllowPlaintext) {
      throw new ConfigError(
        `${name('dockerHost')}: "${c.dockerHost}" without TLS would send the pods' pull secrets in clear (X-Registry-Auth); set --docker-tls-verify with --docker-cert-path, or --docker-allow-plaintext (AUTO_UPDATER_DOCKER_ALLOW_PLAINTEXT) if the link is private anyway`,
      );
    }
  }
  if (c.platform !== undefined && !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(c.platform)) {
    throw new ConfigError(`${name('platform')}: "${c.platform}" is not os/arch[/variant], e.g. linux/arm64`);
  }
  return c;
}

/** Validates a status config; throws ConfigError. */
export function toStatusConfig(c: StatusConfig): StatusConfig {
  const name = namer(c);
  if (c.namespace !== undefined) {
    if (c.namespace.includes(',')) {
      throw new ConfigError(
        `${name('namespace')}: status reads one CronJob in one namespace; give one namespace, not ${c.namespace}`,
      );
    }
    namespaceName(c.namespace, name('namespace'));
  }
  return c;
}

function namespaceName(ns: string, where: string): void {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) {
    throw new ConfigError(
      `${where}: "${ns}" is not a valid namespace name (lower-case letters, digits and '-')`,
    );
  }
}

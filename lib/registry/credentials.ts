// Registry credentials from docker config JSON and pull secrets, matched to images the way the kubelet's keyring
// does, and wrapped so that logging or serialising a credential never prints its secret.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/credentialprovider/keyring.go
// Node-level credential providers (the kubelet's ECR/GCR/ACR plugins, a node's config.json) are invisible from a
// pod: an image pulled only through them resolves as unauthorized here, and its pods are kept.

import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { ImageReference } from '../image/reference.ts';

const REDACTED = '[redacted]';
const HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];
// Per-process key so a credential's identity (a cache key) cannot be used to guess its secret offline.
const IDENTITY_KEY = randomBytes(32);

export interface CredentialInit {
  /** The config key as written (`https://index.docker.io/v1/`); normalised into `key`. */
  rawKey: string;
  /** Where it came from, for messages: `secret ns/name`. Never the content. */
  source: string;
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

/**
 * One docker config entry. The secret fields are private: JSON.stringify, util.inspect, pino and spreading see
 * only the key, source and username. `key` is the host[:port][/path] it was configured for: the client sends it
 * nowhere else (except the token realm that host announces).
 */
export class Credential {
  readonly key: string;
  /** host[:port] part of the key, lower-cased; may be a glob like `*.example.com`. */
  readonly host: string;
  /** Path part of the key ('' or '/team'), a prefix the image path must start with. */
  readonly path: string;
  readonly source: string;
  readonly username: string | undefined;
  readonly #password: string | undefined;
  readonly #identityToken: string | undefined;
  readonly #registryToken: string | undefined;
  readonly #identity: string;

  constructor(init: CredentialInit) {
    const key = normaliseKey(init.rawKey);
    if (key === undefined) throw new TypeError(`invalid registry key in ${init.source}`);
    this.key = key.key;
    this.host = key.host;
    this.path = key.path;
    this.source = init.source;
    this.username = init.username;
    this.#password = init.password;
    this.#identityToken = init.identityToken;
    this.#registryToken = init.registryToken;
    this.#identity = createHmac('sha256', IDENTITY_KEY)
      .update(
        JSON.stringify([this.key, init.username, init.password, init.identityToken, init.registryToken]),
      )
      .digest('hex')
      .slice(0, 24);
  }

  /** Stable, non-secret identity for cache keys: equal for equal key and secrets. */
  get identity(): string {
    return this.#identity;
  }

  /** `Basic …` header value when the entry has a username and password, else undefined. */
  basicAuthorization(): string | undefined {
    if (this.username === undefined || this.#password === undefined) return undefined;
    return `Basic ${Buffer.from(`${this.username}:${this.#password}`).toString('base64')}`;
  }

  /** The OAuth2 refresh token (`identitytoken`) for the token endpoint, when configured. */
  identityToken(): string | undefined {
    return this.#identityToken;
  }

  /** A bearer token to send to the registry as is (`registrytoken`), when configured. */
  registryToken(): string | undefined {
    return this.#registryToken;
  }

  /** True when this credential may be used for the image: same matching as the keyring, so nothing leaks elsewhere. */
  matches(ref: Pick<ImageReference, 'registry' | 'repository'>): boolean {
    return matchTargets(ref).some((target) => keyMatches(this, target));
  }

  toJSON(): Record<string, unknown> {
    return {
      key: this.key,
      source: this.source,
      username: this.username,
      password: this.#password === undefined ? undefined : REDACTED,
      identityToken: this.#identityToken === undefined ? undefined : REDACTED,
      registryToken: this.#registryToken === undefined ? undefined : REDACTED,
    };
  }

  toString(): string {
    return `credential for ${this.key} from ${this.source}`;
  }

  [inspect.custom](): string {
    return `Credential ${JSON.stringify(this.toJSON())}`;
  }
}

/** Alias kept for readers of the docker config vocabulary: a parsed entry is a Credential. */
export type DockerConfigEntry = Credential;

interface NormalisedKey {
  key: string;
  host: string;
  path: string;
}

// kubelet: add https:// when there is no scheme, parse, treat /v1/ and /v2/ as the host itself.
function normaliseKey(raw: string): NormalisedKey | undefined {
  let rest = raw.trim();
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  rest = rest.replace(/[?#].*$/, '');
  const at = rest.lastIndexOf('@', rest.indexOf('/') < 0 ? rest.length : rest.indexOf('/'));
  if (at >= 0) rest = rest.slice(at + 1); // userinfo is never part of the match
  // An '@' left over means userinfo with an unencoded '/' (`user:pa/ss@host`): no host can be trusted from it, and
  // keeping it would put the password into the key that messages print. The kubelet's url.Parse rejects it too.
  if (rest.includes('@')) return undefined;
  const slash = rest.indexOf('/');
  const host = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
  let path = slash < 0 ? '' : rest.slice(slash);
  if (path.startsWith('/v2/') || path.startsWith('/v1/')) path = path.slice(3);
  if (path === '/') path = '';
  if (host === '' || /\s/.test(host)) return undefined;
  return { key: host + path, host, path };
}

interface Target {
  host: string;
  path: string;
}

// Hub images are looked up under each of Hub's names, so keys written as index.docker.io/v1/ (docker login's
// default) or docker.io or registry-1.docker.io all apply.
function matchTargets(ref: Pick<ImageReference, 'registry' | 'repository'>): Target[] {
  const path = `/${ref.repository}`;
  const hosts = HUB_ALIASES.includes(ref.registry) ? HUB_ALIASES : [ref.registry];
  return hosts.map((host) => ({ host, path }));
}

function splitHostPort(hostPort: string): { host: string; port: string } {
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close >= 0) {
      const rest = hostPort.slice(close + 1);
      return { host: hostPort.slice(0, close + 1), port: rest.startsWith(':') ? rest.slice(1) : '' };
    }
  }
  const c = hostPort.lastIndexOf(':');
  return c < 0 ? { host: hostPort, port: '' } : { host: hostPort.slice(0, c), port: hostPort.slice(c + 1) };
}

// kubelet URLsMatch: equal ports, same number of dot-separated host parts each matched as a glob, key path a
// (string) prefix of the image path. The string prefix is kubelet's behaviour, kept so we read the registry with
// exactly the credentials the kubelet would pull with.
function keyMatches(cred: Pick<Credential, 'host' | 'path'>, target: Target): boolean {
  const k = splitHostPort(cred.host);
  const t = splitHostPort(target.host);
  if (k.port !== t.port) return false;
  const kParts = k.host.split('.');
  const tParts = t.host.split('.');
  if (kParts.length !== tParts.length) return false;
  if (!target.path.startsWith(cred.path)) return false;
  return kParts.every((part, i) => globMatch(part, tParts[i] ?? ''));
}

const globCache = new Map<string, RegExp | null>();

/** Go filepath.Match for one host part: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes. A bad pattern matches nothing. */
export function globMatch(pattern: string, s: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    re = globToRegExp(pattern);
    globCache.set(pattern, re);
  }
  return re?.test(s) === true;
}

function globToRegExp(pattern: string): RegExp | null {
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      const next = pattern[++i];
      if (next === undefined) return null;
      out += escapeRe(next);
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) return null;
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      if (body === '' || /[[\\]/.test(body)) return null;
      out += `[${negate ? '^' : ''}${body.replace(/[\]^]/g, '\\$&')}]`;
      i = close;
    } else out += escapeRe(c);
  }
  try {
    return new RegExp(`${out}$`);
  } catch {
    return null;
  }
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

// Most specific first: a longer key path, then fewer wildcards in the host, then kubelet's reverse
// lexicographic key order (which puts `a.example.com` before `*.example.com`), then configuration order.
function compareSpecificity(a: Credential, b: Credential): number {
  if (a.path.length !== b.path.length) return b.path.length - a.path.length;
  const wa = (a.host.match(/[*?[]/g) ?? []).length;
  const wb = (b.host.match(/[*?[]/g) ?? []).length;
  if (wa !== wb) return wa - wb;
  if (a.key !== b.key) return a.key < b.key ? 1 : -1;
  return 0;
}

/** All credentials from the pull secrets in force for a pod, looked up per image. */
export class Keyring {
  readonly #entries: Credential[];
  constructor(entries: Iterable<Credential>) {
    this.#entries = [...entries];
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Every credential that applies to the image, most specific first (empty when none: pull anonymously). */
  lookup(ref: Pick<ImageReference, 'registry' | 'repository'>): Credential[] {
    const matched = this.#entries.filter((c) => c.matches(ref));
    // Array.prototype.sort is stable: equal keys keep configuration order.
    return matched.sort(compareSpecificity);
  }

  toJSON(): unknown {
    return { credentials: this.#entries.map((c) => c.toJSON()) };
  }

  [inspect.custom](): string {
    return `Keyring ${JSON.stringify(this.toJSON())}`;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// Go's base64.StdEncoding, as the kubelet decodes `auth`: padded standard alphabet, and only CR and LF are skipped
// (a space, a tab, the URL-safe alphabet or missing padding make the value invalid, not silently "repaired").
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (CR/LF ignored) to UTF-8; undefined when the value is not valid standard padded base64. */
export function decodeBase64(s: string): string | undefined {
  const compact = s.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8');
}

/**
 * A docker config key fit for a message: userinfo (`https://user:pass@host`) and query/fragment replaced, control
 * characters dropped, at most 200 characters. Keys are written by people; a password pasted into one must not
 * reach a log line or a warning.
 */
export function describeKey(rawKey: string): string {
  let key = String(rawKey).replace(/\p{Cc}/gu, '');
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(key)?.[0] ?? '';
  let rest = key.slice(scheme.length);
  // Up to the last '@' anywhere: a password may itself hold a '/' (unencoded), so the authority cannot be trusted.
  const at = rest.lastIndexOf('@');
  if (at >= 0) rest = `${REDACTED}@${rest.slice(at + 1)}`;
  rest = rest.replace(/[?#].*$/s, `?${REDACTED}`);
  key = scheme + rest;
  return JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key);
}

/**
 * Parses a docker config: `{"auths":{…}}` (config.json / .dockerconfigjson) or the legacy map (.dockercfg).
 * Unusable entries are skipped with a line in `warnings` that names the source and key, never the content.
 */
export function parseDockerConfig(
  json: unknown,
  source: string,
  warnings: string[] = [],
): DockerConfigEntry[] {
  if (!isRecord(json)) {
    warnings.push(`${source}: docker config is not a JSON object: ignored`);
    return [];
  }
  const auths = isRecord(json.auths) ? json.auths : 'auths' in json ? undefined : json;
  if (auths === undefined) {
    warnings.push(`${source}: "auths" is not an object: ignored`);
    return [];
  }
  const out: Credential[] = [];
  for (const [rawKey, entry] of Object.entries(auths)) {
    const where = `${source} entry ${describeKey(rawKey)}`;
    if (!isRecord(entry)) {
      warnings.push(`${where}: not an object: ignored`);
      continue;
    }
    let username = typeof entry.username === 'string' ? entry.username : undefined;
    let password = typeof entry.password === 'string' ? entry.password : undefined;
    const auth = optionalString(entry.auth);
    if (auth !== undefined) {
      // kubelet: a present `auth` wins over username/password.
      const decoded = decodeBase64(auth);
      const colon = decoded?.indexOf(':') ?? -1;
      if (decoded === undefined || colon < 0) {
        warnings.push(`${where}: "auth" is not base64 of user:password: ignored`);
        continue;
      }
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    const identityToken = optionalString(entry.identitytoken);
    const registryToken = optionalString(entry.registrytoken);
    if ((username === undefined || password === undefined) && !identityToken && !registryToken) {
      warnings.push(`${where}: no auth, username/password, identitytoken or registrytoken: ignored`);
      continue;
    }
    if (normaliseKey(rawKey) === undefined) {
      warnings.push(`${where}: not a registry host: ignored`);
      continue;
    }
    const init: CredentialInit = { rawKey, source };
    if (username !== undefined) init.username = username;
    if (password !== undefined) init.password = password;
    if (identityToken !== undefined) init.identityToken = identityToken;
    if (registryToken !== undefined) init.registryToken = registryToken;
    out.push(new Credential(init));
  }
  return out;
}

/** The part of a Kubernetes V1Secret this module reads. */
export interface SecretLike {
  metadata?: { name?: string; namespace?: string };
  type?: string;
  data?: Record<string, string>;
}

const SECRET_KEYS: Readonly<Record<string, string>> = {
  'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
  'kubernetes.io/dockercfg': '.dockercfg',
};

/**
 * Builds a keyring from pull secrets in order (pod secrets, then the service account's). Secrets of other types or
 * with unreadable content are reported in `warnings` (by name only) and otherwise ignored: never thrown.
 */
export function keyringFromSecrets(secrets: SecretLike[]): { keyring: Keyring; warnings: string[] } {
  const warnings: string[] = [];
  const entries: Credential[] = [];
  for (const secret of secrets ?? []) {
    const name = `secret ${secret?.metadata?.namespace ?? '?'}/${secret?.metadata?.name ?? '?'}`;
    const dataKey = SECRET_KEYS[secret?.type ?? ''];
    if (dataKey === undefined) {
      warnings.push(
        `${name}: type ${JSON.stringify(secret?.type ?? '')} is not a docker config secret: ignored`,
      );
      continue;
    }
    const encoded = secret.data?.[dataKey];
    if (typeof encoded !== 'string' || encoded === '') {
      warnings.push(`${name}: no ${dataKey} data: ignored`);
      continue;
    }
    const text = decodeBase64(encoded);
    if (text === undefined) {
      warnings.push(`${name}: ${dataKey} is not base64: ignored`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // The parse error message quotes the input: say only that it failed.
      warnings.push(`${name}: ${dataKey} is not valid JSON: ignored`);
      continue;
    }
    entries.push(...parseDockerConfig(json, name, warnings));
  }
  return { keyring: new Keyring(entries), warnings };
}

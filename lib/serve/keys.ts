// API keys for `serve`: parsed from AUTO_UPDATER_API_KEYS (one per line: `<name> <key> [scope…]`) and XCNT's
// UPDATE_MANAGER_API_KEY (one full-scope key); checked in constant time over the whole key (both sides digested,
// then timingSafeEqual), never by prefix, under the `APIKey` or `Bearer` scheme only.

import { createHash, timingSafeEqual } from 'node:crypto';

/** What a key may touch: classifiers and namespaces (empty: any). */
export interface KeyScope {
  classifiers: string[];
  namespaces: string[];
}

export interface ApiKey {
  name: string;
  /** SHA-256 of the key: the key itself is not kept. */
  digest: Buffer;
  scope: KeyScope;
}

/** The keys could not be read: names the line and the fix, never the key. */
export class ApiKeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeyConfigError';
  }
}

/** The shortest key accepted: shorter ones are guessable. */
export const MIN_KEY_LENGTH = 16;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Parses the keys. AUTO_UPDATER_API_KEYS: one key per line, `name key [classifier=a,b] [namespace=x,y]`; blank lines
 * and `#` comments are skipped. UPDATE_MANAGER_API_KEY: one key, named `update-manager`, full scope.
 */
export function parseApiKeys(env: Readonly<Record<string, string | undefined>>): ApiKey[] {
  const keys: ApiKey[] = [];
  const names = new Set<string>();
  const add = (name: string, key: string, scope: KeyScope, where: string) => {
    if (key.length < MIN_KEY_LENGTH) {
      throw new ApiKeyConfigError(
        `${where}: the key of "${name}" is shorter than ${MIN_KEY_LENGTH} characters; use e.g. \`openssl rand -hex 32\``,
      );
    }
    if (names.has(name))
      throw new ApiKeyConfigError(`${where}: the key name "${name}" is used twice; names must be unique`);
    names.add(name);
    keys.push({ name, digest: digest(key), scope });
  };
  const lines = (env.AUTO_UPDATER_API_KEYS ?? '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `AUTO_UPDATER_API_KEYS line ${i + 1}`;
    const [name, key, ...rest] = line.split(/\s+/);
    if (!name || !key)
      throw new ApiKeyConfigError(`${where}: write "<name> <key> [classifier=a,b] [namespace=x,y]"`);
    const scope: KeyScope = { classifiers: [], namespaces: [] };
    for (const part of rest) {
      const m = /^(classifier|namespace)=([^=]+)$/.exec(part);
      if (!m)
        throw new ApiKeyConfigError(
          `${where}: "${part.split('=')[0]}" is not a scope: write classifier=a,b or namespace=x,y`,
        );
      const values = (m[2] as string)
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
      (m[1] === 'classifier' ? scope.classifiers : scope.namespaces).push(...values);
    }
    add(name, key, scope, where);
  });
  const xcnt = env.UPDATE_MANAGER_API_KEY?.trim();
  if (xcnt) add('update-manager', xcnt, { classifiers: [], namespaces: [] }, 'UPDATE_MANAGER_API_KEY');
  return keys;
}

export type KeyCheck =
  | { ok: true; key: ApiKey }
  | { ok: false; status: 401; reason: 'missing' | 'scheme' | 'invalid' };

/**
 * The key an `Authorization` header presents: `APIKey <key>` (XCNT's client) or `Bearer <key>`; any other scheme
 * word, a missing header or an unknown key is a 401. Every configured key is compared (constant time, whole key).
 */
export function checkAuthorization(header: string | undefined, keys: readonly ApiKey[]): KeyCheck {
  if (header === undefined || header.trim() === '') return { ok: false, status: 401, reason: 'missing' };
  const m = /^([A-Za-z]+) +(\S+)\s*$/.exec(header);
  if (!m || !/^(apikey|bearer)$/i.test(m[1] as string)) return { ok: false, status: 401, reason: 'scheme' };
  const presented = digest(m[2] as string);
  let found: ApiKey | undefined;
  for (const k of keys) if (timingSafeEqual(k.digest, presented) && found === undefined) found = k;
  return found ? { ok: true, key: found } : { ok: false, status: 401, reason: 'invalid' };
}

/** Whether a key may act on a classifier and the namespaces a request names (an empty scope allows all). */
export function inScope(key: ApiKey, what: { classifier?: string; namespaces?: readonly string[] }): boolean {
  const { classifiers, namespaces } = key.scope;
  if (what.classifier !== undefined && classifiers.length > 0 && !classifiers.includes(what.classifier))
    return false;
  if (namespaces.length > 0) {
    // A key limited to namespaces may not act cluster-wide.
    if (what.namespaces === undefined || what.namespaces.length === 0) return false;
    if (!what.namespaces.every((n) => namespaces.includes(n))) return false;
  }
  return true;
}

/** Constant-time equality of two secrets of any length (webhook tokens, shared-secret headers). */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

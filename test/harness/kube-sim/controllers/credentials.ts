// Registry credentials for a pod, from its imagePullSecrets (dockerconfigjson and legacy dockercfg), matched to
// an image's registry host the way the kubelet's keyring does (port equal, `*.` globs, path prefix).

import type { KObject } from '../store.ts';
import type { ImageRef } from './image-ref.ts';

export interface Credential {
  username: string;
  password: string;
  /** The key it was configured under (for messages). */
  key: string;
}

function normalizeKey(key: string): { host: string; path: string } {
  let k = key.trim();
  if (!/^[a-z]+:\/\//i.test(k)) k = `https://${k}`;
  const u = new URL(k);
  let path = u.pathname.replace(/^\/v[12]\/?/, '/').replace(/\/+$/, '');
  if (path === '/') path = '';
  let host = u.host;
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io';
  return { host, path };
}

function globHost(pattern: string, host: string): boolean {
  const [pHost, pPort] = pattern.split(':');
  const [hHost, hPort] = host.split(':');
  if ((pPort ?? '') !== (hPort ?? '')) return false;
  const pp = pHost!.split('.');
  const hp = hHost!.split('.');
  if (pp.length !== hp.length) return false;
  return pp.every((p, i) => {
    const re = new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^.]*')}$`);
    return re.test(hp[i]!);
  });
}

function decodeEntry(key: string, e: Record<string, unknown>): Credential | undefined {
  if (typeof e.auth === 'string' && e.auth) {
    const s = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1), key };
  }
  if (typeof e.username === 'string' && typeof e.password === 'string') {
    return { username: e.username, password: e.password, key };
  }
  return undefined;
}

/** The docker config entries of one secret, or [] when it is not a pull secret or is malformed. */
function entriesOf(secret: KObject): Array<[string, Record<string, unknown>]> {
  const data: Record<string, string> = secret.data ?? {};
  try {
    if (secret.type === 'kubernetes.io/dockerconfigjson' && data['.dockerconfigjson']) {
      const cfg = JSON.parse(Buffer.from(data['.dockerconfigjson'], 'base64').toString('utf8'));
      return Object.entries(cfg.auths ?? {});
    }
    if (secret.type === 'kubernetes.io/dockercfg' && data['.dockercfg']) {
      return Object.entries(JSON.parse(Buffer.from(data['.dockercfg'], 'base64').toString('utf8')));
    }
  } catch {
    return [];
  }
  return [];
}

/**
 * Credentials for an image from the pod's pull secrets, most specific key first; secrets that are missing or
 * malformed are ignored (the real kubelet pulls anonymously then).
 */
export function credentialsFor(
  pod: KObject,
  ref: ImageRef,
  getSecret: (ns: string, name: string) => KObject | undefined,
): Credential[] {
  const out: Array<{ cred: Credential; specificity: number }> = [];
  const imagePath = `/${ref.repository}`;
  for (const s of pod.spec?.imagePullSecrets ?? []) {
    const secret = s?.name ? getSecret(pod.metadata.namespace!, s.name) : undefined;
    if (!secret) continue;
    for (const [key, entry] of entriesOf(secret)) {
      let k: { host: string; path: string };
      try {
        k = normalizeKey(key);
      } catch {
        continue;
      }
      if (!globHost(k.host, ref.registry)) continue;
      if (k.path && !(imagePath === k.path || imagePath.startsWith(`${k.path}/`))) continue;
      const cred = decodeEntry(key, entry as Record<string, unknown>);
      if (cred) out.push({ cred, specificity: k.path.length + (k.host.includes('*') ? 0 : 1000) });
    }
  }
  return out.sort((a, b) => b.specificity - a.specificity).map((x) => x.cred);
}

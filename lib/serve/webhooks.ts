// Registry push webhooks: each source's documented payload → the pushed (image repository, tag, digest), after the
// source's own verification — an HMAC over the raw body (GitHub's X-Hub-Signature-256, and ours for `generic`), a
// shared-secret header (Harbor's Authorization, GitLab's X-Gitlab-Token, distribution's configured Authorization),
// or a secret path token for sources that sign nothing (Docker Hub, Quay). All comparisons are constant-time.

import { createHmac } from 'node:crypto';
import { type ImageReference, tryParseImageReference } from '../image/reference.ts';
import { secretEquals } from './keys.ts';

export const WEBHOOK_SOURCES = [
  'dockerhub',
  'ghcr',
  'harbor',
  'quay',
  'gitlab',
  'distribution',
  'generic',
] as const;
export type WebhookSource = (typeof WEBHOOK_SOURCES)[number];

/** One pushed tag: the reference (registry/repository:tag) and the digest when the source gives it. */
export interface Push {
  image: ImageReference;
  digest?: string;
}

export interface WebhookRequest {
  /** Header names lower-cased. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw body as received (signatures are over these bytes). */
  body: Buffer;
  /** The secret path token, for sources that sign nothing (`/v1/webhooks/dockerhub/<token>`). */
  pathToken?: string;
}

export type WebhookResult =
  | { ok: true; pushes: Push[]; delivery?: string }
  | { ok: false; status: 400 | 401; message: string };

/** How long a signed generic delivery stays valid (its timestamp is signed too): replays after that are refused. */
export const MAX_SKEW_MS = 5 * 60_000;

const bad = (message: string): WebhookResult => ({ ok: false, status: 400, message });
const unauthorized = (message: string): WebhookResult => ({ ok: false, status: 401, message });

function hmacHex(secret: string, data: Buffer | string): string {
  return createHmac('sha256', secret).update(data).digest('hex');
}

/** `sha256=<hex>` over the raw body, GitHub's scheme. */
function verifyHubSignature(req: WebhookRequest, secret: string): boolean {
  const sig = req.headers['x-hub-signature-256'];
  return sig !== undefined && secretEquals(sig, `sha256=${hmacHex(secret, req.body)}`);
}

// biome-ignore lint/suspicious/noExplicitAny: webhook payloads are open JSON read field by field.
type Json = any;

function push(image: string, digest?: unknown): Push | undefined {
  const ref = tryParseImageReference(image);
  if (!ref || ref.tag === undefined) return undefined;
  return typeof digest === 'string' && /^sha256:[a-f0-9]{64}$/.test(digest)
    ? { image: ref, digest }
    : { image: ref };
}

/**
 * Verifies and parses one delivery. `secret` is the source's secret; `now` checks the generic timestamp. A delivery
 * that verifies but names nothing usable is a 400 naming the field.
 */
export function parseWebhook(
  source: WebhookSource,
  req: WebhookRequest,
  secret: string,
  now = Date.now(),
): WebhookResult {
  // Verification first: nothing of an unverified body is looked at.
  switch (source) {
    case 'dockerhub':
    case 'quay':
      if (!req.pathToken || !secretEquals(req.pathToken, secret))
        return unauthorized(`${source}: wrong or missing secret path token`);
      break;
    case 'ghcr':
      if (!verifyHubSignature(req, secret)) return unauthorized('ghcr: X-Hub-Signature-256 missing or wrong');
      break;
    case 'harbor':
    case 'distribution':
      if (!req.headers.authorization || !secretEquals(req.headers.authorization, secret)) {
        return unauthorized(`${source}: the Authorization header is not the configured secret`);
      }
      break;
    case 'gitlab':
      if (!req.headers['x-gitlab-token'] || !secretEquals(req.headers['x-gitlab-token'], secret)) {
        return unauthorized('gitlab: X-Gitlab-Token missing or wrong');
      }
      break;
    case 'generic': {
      const ts = req.headers['x-auto-updater-timestamp'];
      const sig = req.headers['x-auto-updater-signature'];
      if (ts === undefined || sig === undefined)
        return unauthorized('generic: X-Auto-Updater-Timestamp and -Signature are required');
      if (!secretEquals(sig, `sha256=${hmacHex(secret, Buffer.concat([Buffer.from(`${ts}.`), req.body]))}`)) {
        return unauthorized('generic: X-Auto-Updater-Signature does not match');
      }
      const at = Number(ts) * 1000;
      if (!Number.isFinite(at) || Math.abs(now - at) > MAX_SKEW_MS)
        return unauthorized('generic: the timestamp is too old or too far ahead (a replay?)');
      break;
    }
  }
  let body: Json;
  try {
    body = JSON.parse(req.body.toString('utf8'));
  } catch {
    return bad(`${source}: the body is not JSON`);
  }
  const pushes: Push[] = [];
  const add = (image: string, digest?: unknown) => {
    const p = push(image, digest);
    if (p) pushes.push(p);
  };
  switch (source) {
    case 'dockerhub': {
      const repo = body?.repository?.repo_name;
      const tag = body?.push_data?.tag;
      if (typeof repo !== 'string' || typeof tag !== 'string')
        return bad('dockerhub: repository.repo_name and push_data.tag are required');
      add(`docker.io/${repo}:${tag}`);
      break;
    }
    case 'quay': {
      const url = body?.docker_url;
      const tags = body?.updated_tags;
      if (typeof url !== 'string' || !Array.isArray(tags))
        return bad('quay: docker_url and updated_tags are required');
      for (const tag of tags) if (typeof tag === 'string') add(`${url}:${tag}`);
      break;
    }
    case 'ghcr': {
      if (req.headers['x-github-event'] !== 'package') return { ok: true, pushes: [] };
      const pkg = body?.package;
      const tag = pkg?.package_version?.container_metadata?.tag?.name;
      const digest = pkg?.package_version?.container_metadata?.tag?.digest ?? pkg?.package_version?.name;
      if (typeof pkg?.namespace !== 'string' || typeof pkg?.name !== 'string')
        return bad('ghcr: package.namespace and package.name are required');
      if (typeof tag === 'string' && tag !== '')
        add(`ghcr.io/${pkg.namespace.toLowerCase()}/${pkg.name.toLowerCase()}:${tag}`, digest);
      break;
    }
    case 'harbor': {
      if (body?.type !== 'PUSH_ARTIFACT') return { ok: true, pushes: [] };
      const resources = body?.event_data?.resources;
      if (!Array.isArray(resources)) return bad('harbor: event_data.resources is required');
      for (const r of resources) if (typeof r?.resource_url === 'string') add(r.resource_url, r.digest);
      break;
    }
    case 'gitlab':
    case 'distribution': {
      const events = body?.events;
      if (!Array.isArray(events))
        return bad(`${source}: events[] is required (a distribution notification envelope)`);
      for (const e of events) {
        if (
          e?.action !== 'push' ||
          typeof e?.target?.repository !== 'string' ||
          typeof e?.target?.tag !== 'string'
        )
          continue;
        const host = typeof e?.request?.host === 'string' ? e.request.host : undefined;
        if (!host) continue;
        add(`${host}/${e.target.repository}:${e.target.tag}`, e.target.digest);
      }
      break;
    }
    case 'generic': {
      const image = body?.image;
      if (typeof image !== 'string') return bad('generic: image ("registry/repository:tag") is required');
      if (!push(image))
        return bad(`generic: image "${String(image).slice(0, 200)}" is not a tagged image reference`);
      add(image, body?.digest);
      break;
    }
  }
  const delivery = req.headers['x-github-delivery'] ?? req.headers['x-request-id'];
  return delivery ? { ok: true, pushes, delivery } : { ok: true, pushes };
}

/** Signs a generic delivery the way parseWebhook checks it (for senders and tests). */
export function signGeneric(
  secret: string,
  body: Buffer | string,
  timestampSeconds: number,
): Record<string, string> {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return {
    'x-auto-updater-timestamp': String(timestampSeconds),
    'x-auto-updater-signature': `sha256=${hmacHex(secret, Buffer.concat([Buffer.from(`${timestampSeconds}.`), raw]))}`,
  };
}

// One pull and one inspect through the Docker Engine API, with failures turned into classified values. The progress
// stream is read to its end and any `error` event in it fails the pull: Podman answers 200 and reports failures only
// inside the stream, and dockerode's followProgress would report success.

import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { AuthConfigObject, ImageInspectInfo } from 'dockerode';
import { DOCKER_HUB } from '../image/reference.ts';
import type { Credential } from '../registry/credentials.ts';

export type EngineFailureKind =
  | 'not-found'
  | 'unauthorized'
  | 'rate-limited'
  | 'registry-unreachable'
  /** The engine itself did not answer (socket missing, refused, TLS): every pull would fail the same way. */
  | 'engine-unreachable'
  /** The run was stopped (SIGTERM) while the pull ran, or before it started: abandoned, nothing learned. */
  | 'interrupted';

export interface EngineFailure {
  ok: false;
  kind: EngineFailureKind;
  /** The engine's words (or the connection error), never credentials. */
  message: string;
}

export type PullResult = { ok: true; digestLine: string | undefined; events: number } | EngineFailure;
export type InspectResult = { ok: true; image: ImageInspectInfo } | EngineFailure;

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENOTSOCK',
  'UND_ERR_SOCKET',
]);

// The engines relay the registry's error text; their HTTP status says little (dockerd answers 500 for a 401).
const RATE_LIMITED = /toomanyrequests|too many requests|rate limit/i;
const UNAUTHORIZED =
  /unauthorized|authentication required|no basic auth credentials|access denied|denied:|requested access to the resource is denied|incorrect username or password|forbidden|\b40[13] (unauthorized|forbidden)/i;
const NOT_FOUND =
  /manifest unknown|not found|no such image|name unknown|no matching manifest|does not exist/i;

/** Classifies the engine's (or the relayed registry's) failure text; anything unrecognised is "unreachable". */
export function classifyMessage(
  message: string,
  status?: number,
): Exclude<EngineFailureKind, 'engine-unreachable' | 'interrupted'> {
  if (RATE_LIMITED.test(message) || status === 429) return 'rate-limited';
  if (UNAUTHORIZED.test(message) || status === 401 || status === 403) return 'unauthorized';
  if (NOT_FOUND.test(message) || status === 404) return 'not-found';
  return 'registry-unreachable';
}

interface ModemError {
  statusCode?: number;
  json?: unknown;
  code?: string;
  name?: string;
  message?: string;
  cause?: unknown;
}

/** Turns a dockerode rejection into a failure: no HTTP answer means the engine is unreachable. */
export function classifyEngineError(err: unknown, what: string): EngineFailure {
  const e = (err ?? {}) as ModemError;
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') {
    return { ok: false, kind: 'registry-unreachable', message: `${what}: timed out` };
  }
  if (typeof e.statusCode !== 'number') {
    const code = e.code ?? (e.cause as ModemError | undefined)?.code;
    const detail = e.message ?? String(err);
    if ((code && CONNECTION_CODES.has(code)) || /certificate|ssl|tls|socket hang up/i.test(detail)) {
      return {
        ok: false,
        kind: 'engine-unreachable',
        message: `${what}: Docker engine unreachable: ${detail}`,
      };
    }
    return {
      ok: false,
      kind: 'engine-unreachable',
      message: `${what}: no answer from the Docker engine: ${detail}`,
    };
  }
  const json = e.json as { message?: unknown } | null | undefined;
  const text = typeof json?.message === 'string' ? json.message : stripModemPrefix(e.message ?? '');
  return {
    ok: false,
    kind: classifyMessage(text, e.statusCode),
    message: `${what}: engine answered HTTP ${e.statusCode}: ${text}`,
  };
}

// dockerode prefixes "(HTTP code 500) server error - "; the rest is the engine's message.
function stripModemPrefix(message: string): string {
  return message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim();
}

/**
 * The X-Registry-Auth body for a credential: username/password, identity token or registry token. serveraddress
 * is the image's registry (Docker Hub's legacy index URL for Hub), which the credential was matched for.
 */
export function authConfigFor(cred: Credential, registry: string): AuthConfigObject {
  const serveraddress = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  const out: AuthConfigObject = { serveraddress };
  const basic = cred.basicAuthorization();
  if (basic !== undefined && cred.username !== undefined) {
    const decoded = Buffer.from(basic.slice('Basic '.length), 'base64').toString('utf8');
    out.username = cred.username;
    out.password = decoded.slice(cred.username.length + 1);
  }
  const identity = cred.identityToken();
  if (identity !== undefined) out.identitytoken = identity;
  const registryToken = cred.registryToken();
  if (registryToken !== undefined) out.registrytoken = registryToken;
  return out;
}

export interface PullRequest {
  /** `registry/repository` (fromImage) as the engine should pull it. */
  name: string;
  /** A tag, or a digest (`sha256:…`) to pull by digest. */
  reference: string;
  auth?: AuthConfigObject | undefined;
  platform?: string | undefined;
  /** Stops the pull (the run's SIGTERM): the request is aborted, the stream destroyed, `interrupted` returned. */
  signal?: AbortSignal | undefined;
  /** Gives up on the pull after this long (`registry-unreachable`, "timed out"); none by default. */
  timeoutMs?: number | undefined;
}

/** The failure for a pull or inspect that the run's signal stopped. */
export function interrupted(what: string, signal?: AbortSignal): EngineFailure {
  const why = signal?.reason instanceof Error ? signal.reason.message : 'the run was stopped';
  return { ok: false, kind: 'interrupted', message: `${what}: abandoned (${why})` };
}

const DIGEST_LINE = /^Digest:\s*(sha(?:256|384|512):[a-f0-9]+)\s*$/;

/**
 * Pulls through the engine and reads the whole progress stream. Resolves a failure for an HTTP error, an `error`
 * event in the stream, an unreadable line or a broken stream, and `interrupted` as soon as `signal` aborts (before
 * or during the pull: the request is aborted and the stream destroyed); never rejects. `digestLine` is dockerd's
 * `Digest:`.
 */
export async function pullImage(docker: Dockerode, req: PullRequest): Promise<PullResult> {
  const what = `pull of ${formatRef(req.name, req.reference)}`;
  if (req.signal?.aborted) return interrupted(what, req.signal);
  const signals = [req.signal, req.timeoutMs === undefined ? undefined : AbortSignal.timeout(req.timeoutMs)];
  const active = signals.filter((s): s is AbortSignal => s !== undefined);
  const abort = active.length > 0 ? AbortSignal.any(active) : undefined;
  const settle = (r: PullResult): PullResult =>
    !r.ok && req.signal?.aborted ? interrupted(what, req.signal) : r;
  // By digest, the reference goes into fromImage: both engines read `name@sha256:…` there.
  const byDigest = req.reference.includes(':');
  const opts: Record<string, unknown> = byDigest
    ? { fromImage: `${req.name}@${req.reference}` }
    : { fromImage: req.name, tag: req.reference };
  if (req.platform) opts.platform = req.platform;
  if (abort) opts.abortSignal = abort;
  let stream: Readable;
  try {
    // createImage(auth, opts) sends auth only as the X-Registry-Auth header, never in the URL.
    stream = (await docker.createImage(req.auth as Dockerode.AuthConfig, opts)) as Readable;
  } catch (err) {
    return settle(classifyEngineError(err, what));
  }
  return settle(await readProgress(stream, what, abort));
}

/**
 * Reads newline-delimited JSON progress events; the first error event decides the outcome. When `signal` aborts
 * first, the stream is destroyed (the engine sees the client go away) and the result is a timed-out failure, which
 * pullImage turns into `interrupted` when the run's own signal was the cause.
 */
export function readProgress(stream: Readable, what: string, signal?: AbortSignal): Promise<PullResult> {
  return new Promise((resolve) => {
    let buf = '';
    let digestLine: string | undefined;
    let events = 0;
    let settled = false;
    const finish = (r: PullResult) => {
      if (settled) return;
      settled = true;
      stream.removeAllListeners('data');
      signal?.removeEventListener('abort', onAbort);
      // Keep draining so the engine is not blocked writing to a socket nobody reads, then let it close.
      stream.resume();
      if (!r.ok) stream.destroy();
      resolve(r);
    };
    const line = (raw: string): EngineFailure | undefined => {
      const text = raw.trim();
      if (text === '') return undefined;
      let ev: { status?: unknown; error?: unknown; errorDetail?: { message?: unknown; code?: unknown } };
      try {
        ev = JSON.parse(text);
      } catch {
        return {
          ok: false,
          kind: 'registry-unreachable',
          message: `${what}: unreadable progress line from the engine`,
        };
      }
      events++;
      if (ev.error !== undefined || ev.errorDetail !== undefined) {
        const msg = String(ev.errorDetail?.message ?? ev.error ?? 'error');
        const code = typeof ev.errorDetail?.code === 'number' ? ev.errorDetail.code : undefined;
        return { ok: false, kind: classifyMessage(msg, code), message: `${what}: ${msg}` };
      }
      const m = typeof ev.status === 'string' ? DIGEST_LINE.exec(ev.status) : null;
      if (m) digestLine = m[1];
      return undefined;
    };
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const failure = line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (failure) return finish(failure);
        nl = buf.indexOf('\n');
      }
    });
    stream.on('error', (err) => finish(classifyEngineError(err, what)));
    // Not only the request: docker-modem hands a stream's response over before the body, so abort it here too.
    function onAbort() {
      finish({ ok: false, kind: 'registry-unreachable', message: `${what}: timed out` });
    }
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const end = () => {
      const failure = line(buf);
      buf = '';
      finish(failure ?? { ok: true, digestLine, events });
    };
    stream.on('end', end);
    // 'close' without 'end' is an interrupted stream (engine died mid-pull).
    stream.on('close', () => {
      if (!stream.readableEnded) {
        finish({
          ok: false,
          kind: 'engine-unreachable',
          message: `${what}: the engine closed the stream early`,
        });
      }
    });
  });
}

/** Inspects a local image by name; a failure value when the engine cannot; `interrupted` once `signal` aborted. */
export async function inspectImage(
  docker: Dockerode,
  name: string,
  signal?: AbortSignal,
): Promise<InspectResult> {
  const what = `inspect of ${name}`;
  if (signal?.aborted) return interrupted(what, signal);
  try {
    // dockerode's inspect takes no abort signal; it is a local lookup, so the check before it is enough.
    return { ok: true, image: await docker.getImage(name).inspect() };
  } catch (err) {
    return signal?.aborted ? interrupted(what, signal) : classifyEngineError(err, what);
  }
}

/** `name:tag` or `name@sha256:…`. */
export function formatRef(name: string, reference: string): string {
  return reference.includes(':') ? `${name}@${reference}` : `${name}:${reference}`;
}

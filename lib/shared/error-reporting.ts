// Opt-in error reporting (SENTRY_DSN, XCNT's variable) through the official Sentry Node SDK, loaded only when set: a
// run without it never imports the SDK (the bundle keeps it in a chunk of its own). Events carry no credentials: URL
// userinfo, Authorization values, bearer/API keys and token-like query parameters are scrubbed, request headers and
// cookies dropped, no default PII, no tracing, no automatic integrations (nothing patches the process).

import { scrubUserinfo } from './log.ts';

export interface ErrorReporter {
  /** Reports an error with tags (command, namespace…); never throws. */
  capture(err: unknown, tags?: Record<string, string>): void;
  /** Sends what is queued; resolves false when the deadline passed first. */
  flush(timeoutMs?: number): Promise<boolean>;
}

const SECRET_WORDS = /\b(Bearer|APIKey|Basic|token|password|secret|api[_-]?key)(\s*[:=]?\s*)([^\s"',;&]+)/gi;
const SECRET_QUERY = /([?&](?:token|secret|key|password|access_token|sig|signature)=)[^&\s"']+/gi;

/** A string with credentials replaced by [redacted]. */
export function scrubSecrets(text: string): string {
  return scrubUserinfo(text).replace(SECRET_WORDS, '$1$2[redacted]').replace(SECRET_QUERY, '$1[redacted]');
}

function scrubDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = /authorization|cookie|password|token|secret/i.test(k) ? '[redacted]' : scrubDeep(v, depth + 1);
  return out;
}

/** The reporter for SENTRY_DSN, or undefined when it is not set. Rejects with a clear message for a bad DSN. */
export async function startErrorReporting(
  env: Readonly<Record<string, string | undefined>>,
  opts: { release: string; serverName?: string },
): Promise<ErrorReporter | undefined> {
  const dsn = env.SENTRY_DSN?.trim();
  if (!dsn) return undefined;
  try {
    const u = new URL(dsn);
    if (!u.username || !/^\/?\d+$/.test(u.pathname.replace(/.*\//, '/'))) throw new Error('shape');
  } catch {
    throw new Error('SENTRY_DSN is not a Sentry DSN: write https://<public key>@<host>/<project id>');
  }
  const Sentry = await import('@sentry/node');
  Sentry.init({
    dsn,
    release: opts.release,
    ...(env.SENTRY_ENVIRONMENT ? { environment: env.SENTRY_ENVIRONMENT } : {}),
    ...(opts.serverName ? { serverName: opts.serverName } : {}),
    defaultIntegrations: false,
    integrations: [],
    tracesSampleRate: 0,
    beforeSend(event) {
      const e = scrubDeep(event) as typeof event;
      if (e.request) {
        delete e.request.headers;
        delete e.request.cookies;
      }
      return e;
    },
    beforeBreadcrumb: (b) => scrubDeep(b) as typeof b,
  });
  return {
    capture(err, tags) {
      try {
        Sentry.captureException(err, tags ? { tags } : undefined);
      } catch {
        // Reporting must never break the run.
      }
    },
    flush: (timeoutMs = 2000) => Sentry.flush(timeoutMs),
  };
}

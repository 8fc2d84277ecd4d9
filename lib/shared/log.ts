// The logger: pino JSON lines on stderr, pretty on a terminal, with credentials redacted wherever they appear.

import { type Logger, pino } from 'pino';

export type { Logger };

/** Paths pino blanks out: anything that could hold a registry credential or token. */
export const REDACT_PATHS = [
  'password',
  'auth',
  'token',
  'authorization',
  'identitytoken',
  'registrytoken',
  '*.password',
  '*.auth',
  '*.token',
  '*.access_token',
  '*.authorization',
  '*.Authorization',
  '*.identitytoken',
  '*.registrytoken',
  'headers.authorization',
  'headers.Authorization',
  '*.headers.authorization',
  '*.headers.Authorization',
];

// `scheme://anything@`: userinfo in a URL (a docker config key written as https://user:pass@host, a proxy URL).
// Greedy up to the last '@' of the word, since a password may hold an unencoded '/'.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>]*@/gi;
const MAX_SCRUB_DEPTH = 6;

/** The text with every URL's userinfo replaced by [redacted]. */
export function scrubUserinfo(text: string): string {
  return text.includes('@') ? text.replace(URL_USERINFO, '$1[redacted]@') : text;
}

// Strings inside plain objects and arrays are scrubbed; other objects (errors, class instances) go to their
// serializers untouched. Copies only what changes, so the common case allocates nothing.
function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubUserinfo(value);
  if (depth >= MAX_SCRUB_DEPTH || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const s = scrub(v, depth + 1);
      if (s === v) return;
      out ??= [...value];
      out[i] = s;
    });
    return out ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const s = scrub(v, depth + 1);
    if (s === v) continue;
    out ??= { ...(value as Record<string, unknown>) };
    out[k] = s;
  }
  return out ?? value;
}

export interface LogOptions {
  level: string;
  format: 'auto' | 'json' | 'pretty';
  /** Destination; default stderr (stdout is for the plan/result). */
  stream?: NodeJS.WritableStream;
}

/** Creates the process logger. Pretty output loads pino-pretty lazily, only when asked or on a TTY. */
export async function createLogger(opts: LogOptions): Promise<Logger> {
  const stream = opts.stream ?? process.stderr;
  const pretty =
    opts.format === 'pretty' || (opts.format === 'auto' && (stream as { isTTY?: boolean }).isTTY === true);
  const base = {
    level: opts.level,
    base: { app: 'k8s-auto-updater' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Path redaction cannot see a password inside a value: URL userinfo is scrubbed from messages, format
    // arguments, logged objects and child bindings alike.
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => scrub(a)),
        );
      },
    },
    // pino resets the bindings formatter for children, so a child's bindings are scrubbed when it is made.
    onChild(child: Logger) {
      const bindings = child.bindings();
      const clean = scrub(bindings);
      if (clean === bindings) return;
      // setBindings appends to the serialised bindings: start them afresh so the raw value is gone, not shadowed.
      (child as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] = '';
      child.setBindings(clean as Record<string, unknown>);
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (pretty) {
    const { default: prettyFactory } = await import('pino-pretty');
    return pino(
      base,
      prettyFactory({
        destination: stream,
        colorize: true,
        ignore: 'pid,hostname,app',
        singleLine: true,
        sync: true,
      }),
    );
  }
  return pino(base, stream as pino.DestinationStream);
}

/** A logger that writes nowhere (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

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

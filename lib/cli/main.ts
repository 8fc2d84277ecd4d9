// The command-line program: registers every command of the command table (commands.ts) with its options from the
// option table, validates config before any API call, runs the command and maps every failure to a documented exit
// code (lib/shared/errors.ts: EXIT_CODES).

import { CommanderError, Option, Command as Program } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { formatDuration } from '../config/duration.ts';
import { type Command, envName, OPTIONS, type OptionSpec } from '../config/options.ts';
import { ConfigError, EXIT, UpdaterError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';
import { COMMANDS, type Io, type MainOptions, type RawOptions } from './commands.ts';
import { terminationSignal } from './run.ts';

export type { Io, MainOptions } from './commands.ts';

export const VERSION: string = pkg.version;

function describe(spec: OptionSpec): string {
  const parts = [`env: ${envName(spec.flag)}`];
  if (spec.default !== undefined && !(Array.isArray(spec.default) && spec.default.length === 0)) {
    const d = spec.type === 'duration' ? formatDuration(spec.default as number) : String(spec.default);
    parts.push(`default: ${d}`);
  }
  if (spec.choices) parts.push(`one of: ${spec.choices.join(', ')}`);
  return `${spec.description} (${parts.join('; ')})`;
}

function addOptions(cmd: Program, command: Command): void {
  for (const spec of OPTIONS) {
    if (!spec.commands.includes(command)) continue;
    const short = spec.short ? `-${spec.short}, ` : '';
    if (spec.type === 'boolean') {
      cmd.addOption(new Option(`${short}--${spec.flag}`, describe(spec)));
      cmd.addOption(new Option(`--no-${spec.flag}`, `Turn --${spec.flag} off.`).hideHelp());
      continue;
    }
    const o = new Option(`${short}--${spec.flag} ${spec.arg ?? '<value>'}`, describe(spec));
    // Collect raw text; config.ts parses and validates so flags and env twins fail with the same messages. Lists
    // collect every occurrence. A one-value flag that is a list in another command (status -n, run -n) collects them
    // too, so that config.ts refuses a second value instead of silently keeping the last; other one-value flags keep
    // the last occurrence, as kubectl does.
    if (spec.type === 'string[]')
      o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    else if (spec.type === 'string' && OPTIONS.some((x) => x.flag === spec.flag && x.type === 'string[]'))
      o.argParser((v: string, prev: string | string[] | undefined) =>
        prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v],
      );
    cmd.addOption(o);
  }
}

/** Runs the CLI with argv (without node and script) and returns the exit code; never throws. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: Io = process,
  options: MainOptions = {},
): Promise<number> {
  let exitCode: number = EXIT.ok;
  let logger: Logger | undefined;
  let disposeSignals: (() => void) | undefined;
  const program = new Program('k8s-auto-updater')
    .description(
      'Keeps running pods on the image their tag points to now: finds stale pods and evicts them safely.',
    )
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)');

  for (const command of COMMANDS) {
    const cmd = program
      .command(command.name, command.isDefault ? { isDefault: true } : {})
      .description(command.summary);
    addOptions(cmd, command.name);
    cmd.action(async (raw: RawOptions) => {
      // First, before options are parsed or any API call: a SIGTERM while listing still ends in a report.
      const term = command.signals ? terminationSignal(() => logger) : undefined;
      disposeSignals = term?.dispose;
      const signal = term?.signal ?? new AbortController().signal;
      exitCode = await command.execute(raw, {
        env,
        io,
        signal,
        options,
        version: VERSION,
        logger: async (s) => {
          logger = await createLogger({ level: s.logLevel, format: s.logFormat, stream: io.stderr });
          return logger;
        },
      });
    });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; usage errors are configuration errors.
      return e.exitCode === 0 ? EXIT.ok : EXIT.config;
    }
    const err = e as Error;
    if (err instanceof ConfigError) {
      io.stderr.write(`k8s-auto-updater: configuration error: ${err.message}\n`);
      return EXIT.config;
    }
    if (logger) logger.error({ err }, err.message);
    else io.stderr.write(`k8s-auto-updater: ${err.message}\n`);
    return err instanceof UpdaterError ? err.exitCode : EXIT.failure;
  } finally {
    disposeSignals?.();
  }
}

// The command-line program: builds commander commands from the option table, validates config before any API
// call, runs the command and maps every failure to a documented exit code (0 ok, 1 failure/partial, 2 config).

import { CommanderError, Option, Command as Program } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { mergeOptions, toRunConfig, toStatusConfig } from '../config/config.ts';
import { formatDuration } from '../config/duration.ts';
import { type Command, envName, OPTIONS, type OptionSpec } from '../config/options.ts';
import { ConfigError, EXIT, UpdaterError } from '../shared/errors.ts';
import { createLogger, type Logger } from '../shared/log.ts';

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
    // Collect raw text; config.ts parses and validates so flags and env twins fail with the same messages.
    if (spec.type === 'string[]')
      o.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    cmd.addOption(o);
  }
}

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Runs the CLI with argv (without node and script) and returns the exit code; never throws. */
export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: Io = process,
): Promise<number> {
  let exitCode: number = EXIT.ok;
  let logger: Logger | undefined;
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

  const run = program
    .command('run', { isDefault: true })
    .description(
      'Check the selected pods and evict those whose tag now points to a new digest (the CronJob command).',
    );
  addOptions(run, 'run');
  run.action(async (opts: Record<string, string | boolean | string[]>) => {
    const config = toRunConfig(mergeOptions('run', opts, env));
    logger = await createLogger({ level: config.logLevel, format: config.logFormat, stream: io.stderr });
    const { runUpdater } = await import('../jobs/restart-stale.ts');
    exitCode = await runUpdater(config, { logger, env, stdout: io.stdout });
  });

  const status = program
    .command('status')
    .description(
      "Show the CronJob's schedule, next run times and last result; or validate a schedule offline.",
    );
  addOptions(status, 'status');
  status.action(async (opts: Record<string, string | boolean | string[]>) => {
    const config = toStatusConfig(mergeOptions('status', opts, env));
    logger = await createLogger({ level: config.logLevel, format: config.logFormat, stream: io.stderr });
    const { runStatus } = await import('../status/status.ts');
    exitCode = await runStatus(config, { logger, env, stdout: io.stdout });
  });

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
  }
}

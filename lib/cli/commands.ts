// The command table: every CLI command (run, status; `update` and `serve` come next) is one entry here. main()
// registers each with its options from the option table (lib/config/options.ts), and scripts/gen-docs.ts documents
// each. `--mode` is not a command: it picks the digest source of `run`.

import { mergeOptions, toRunConfig, toStatusConfig } from '../config/config.ts';
import type { Command } from '../config/options.ts';
import type { Logger, LogOptions } from '../shared/log.ts';
import type { RunCommandDeps } from './run.ts';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Raw option values as commander collected them (only those given on the command line). */
export type RawOptions = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** Seams for tests that run the program in-process as a pod would (tests/chart/e2e.test.ts). */
export interface MainOptions {
  /** The service-account directory in-cluster config reads (default the kubelet's mount). */
  serviceAccountDir?: string;
  connect?: RunCommandDeps['connect'];
  now?: () => Date;
}

export interface CommandContext {
  env: NodeJS.ProcessEnv;
  io: Io;
  /** Aborted on SIGTERM/SIGINT; installed before the command parses its options (commands with `signals`). */
  signal: AbortSignal;
  /** Creates the command's logger on stderr and lets main() log a failure with it. */
  logger(settings: { logLevel: string; logFormat: LogOptions['format'] }): Promise<Logger>;
  options: MainOptions;
  version: string;
}

export interface CliCommand {
  name: Command;
  /** One line for --help and the heading text of docs/configuration.md. */
  summary: string;
  /** The page that documents the command beyond its options, if any (linked from docs/configuration.md). */
  doc?: string;
  /** Run when no command is given. */
  isDefault?: boolean;
  /** Whether SIGTERM/SIGINT abort it gracefully (its report is still written) instead of ending the process. */
  signals?: boolean;
  /** Validates the options (ConfigError: exit 2), runs the use case and returns the exit code. */
  execute(raw: RawOptions, ctx: CommandContext): Promise<number>;
}

export const COMMANDS: readonly CliCommand[] = [
  {
    name: 'run',
    summary:
      'Check the selected pods and evict those whose tag now points to a new digest (the CronJob command).',
    isDefault: true,
    signals: true,
    async execute(raw, ctx) {
      const config = toRunConfig(mergeOptions('run', raw, ctx.env));
      const logger = await ctx.logger(config);
      const { runUpdater } = await import('./run.ts');
      return runUpdater(config, {
        logger,
        env: ctx.env,
        stdout: ctx.io.stdout,
        signal: ctx.signal,
        version: ctx.version,
        ...ctx.options,
      });
    },
  },
  {
    name: 'status',
    summary: "Show the CronJob's schedule, next run times and last result; or validate a schedule offline.",
    doc: 'status.md',
    async execute(raw, ctx) {
      const config = toStatusConfig(mergeOptions('status', raw, ctx.env));
      const logger = await ctx.logger(config);
      const { runStatus } = await import('./status.ts');
      return runStatus(config, {
        logger,
        env: ctx.env,
        stdout: ctx.io.stdout,
        ...(ctx.options.now ? { now: ctx.options.now } : {}),
      });
    },
  },
];

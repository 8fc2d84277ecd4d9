// The one option table: it feeds the CLI flags, their environment twins, the chart's values and schema, and
// docs/configuration.md. Add an option here and everything else follows (a drift test checks the chart and docs).

export type OptionType = 'string' | 'string[]' | 'boolean' | 'integer' | 'duration' | 'enum';

export interface OptionSpec {
  /** Key in the parsed config and in the chart's `config:` values. */
  key: string;
  /** Long flag without dashes, e.g. `namespace` for `--namespace`. */
  flag: string;
  short?: string;
  type: OptionType;
  /** Placeholder in help, e.g. `<ns>`. */
  arg?: string;
  choices?: readonly string[];
  /** Default, in the parsed form (durations in ms). Undefined: unset. */
  default?: string | number | boolean | readonly string[];
  min?: number;
  max?: number;
  description: string;
  /** Commands that take the option. */
  commands: readonly Command[];
  /** Whether the chart exposes it under `config:` (some options only make sense on a workstation). */
  chart: boolean;
  /**
   * Whether a `serve` request may set it for one run. Absent means no (fail closed): trust and endpoints (CA files,
   * insecure registries, the Docker host and config, the kubeconfig) are the server's, never a caller's.
   */
  request?: true;
}

export type Command = 'run' | 'status';

/** The environment twin of a flag, by one mechanical rule: AUTO_UPDATER_ + upper snake case. */
export function envName(flag: string): string {
  return `AUTO_UPDATER_${flag.replace(/-/g, '_').toUpperCase()}`;
}

const RUN = ['run'] as const satisfies readonly Command[];
const BOTH = ['run', 'status'] as const satisfies readonly Command[];

// `as const` keeps every entry's literal key, type, choices, default and commands, so the settings types below are
// derived from this table: renaming or retyping an option changes RunConfig/StatusConfig and breaks the build.
const TABLE = [
  // Selection
  {
    key: 'namespace',
    flag: 'namespace',
    short: 'n',
    type: 'string[]',
    arg: '<ns>',
    default: [],
    description:
      "Namespace to check; repeat or comma-separate for several. Default: the namespace the job runs in, or the kubeconfig context's.",
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    // `status` reads one CronJob: one namespace, not a list (several are refused, naming the fix).
    key: 'namespace',
    flag: 'namespace',
    short: 'n',
    type: 'string',
    arg: '<ns>',
    description: "Namespace of the CronJob (one). Default: the kubeconfig context's namespace.",
    commands: ['status'],
    chart: false,
    request: true,
  },
  {
    key: 'allNamespaces',
    flag: 'all-namespaces',
    short: 'A',
    type: 'boolean',
    default: false,
    description: 'Check pods in every namespace (needs cluster-wide RBAC).',
    commands: RUN,
    chart: true,
  },
  {
    key: 'namespaceRegex',
    flag: 'namespace-regex',
    type: 'string',
    arg: '<regex>',
    description:
      'Check namespaces whose whole name matches this regular expression (needs namespace list RBAC).',
    commands: RUN,
    chart: true,
  },
  {
    key: 'selector',
    flag: 'selector',
    short: 'l',
    type: 'string',
    arg: '<selector>',
    description: 'Label selector for the pods to check, e.g. "app in (web,api),tier!=db".',
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    key: 'optIn',
    flag: 'opt-in',
    type: 'boolean',
    default: false,
    description:
      'Only consider pods whose pod or workload is annotated k8s-auto-updater.io/enabled=true. The annotation set to "false" always opts out.',
    commands: RUN,
    chart: true,
    request: true,
  },
  // Behaviour
  {
    key: 'mode',
    flag: 'mode',
    type: 'enum',
    choices: ['registry', 'docker'],
    default: 'registry',
    description:
      'Where current digests come from: "registry" (HEAD requests with the pods\' pull secrets) or "docker" (re-pull through a Docker socket).',
    commands: RUN,
    chart: true,
  },
  {
    key: 'dryRun',
    flag: 'dry-run',
    type: 'boolean',
    default: false,
    description: 'Print the plan and change nothing.',
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    key: 'maxRestarts',
    flag: 'max-restarts',
    type: 'integer',
    arg: '<n>',
    default: 0,
    min: 0,
    description: 'Evict at most this many pods in one run; 0 means no cap.',
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    key: 'parallelWorkloads',
    flag: 'parallel-workloads',
    type: 'integer',
    arg: '<n>',
    default: 4,
    min: 1,
    max: 64,
    description: 'Workloads restarted at the same time (always one pod at a time within a workload).',
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    key: 'podTimeout',
    flag: 'pod-timeout',
    type: 'duration',
    arg: '<duration>',
    default: 300_000,
    min: 1000,
    description:
      "How long to wait for an evicted pod's replacement to be Ready on the new digest (e.g. 5m, 90s).",
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    key: 'evictionTimeout',
    flag: 'eviction-timeout',
    type: 'duration',
    arg: '<duration>',
    default: 120_000,
    min: 0,
    description: 'How long to keep retrying an eviction a PodDisruptionBudget refuses before reporting it.',
    commands: RUN,
    chart: true,
    request: true,
  },
  {
    key: 'events',
    flag: 'events',
    type: 'boolean',
    default: true,
    description: 'Record a Kubernetes Event on the workload for each restart (--no-events to disable).',
    commands: RUN,
    chart: true,
    request: true,
  },
  // Registry
  {
    key: 'registryConcurrency',
    flag: 'registry-concurrency',
    type: 'integer',
    arg: '<n>',
    default: 8,
    min: 1,
    max: 256,
    description: 'Concurrent requests per registry.',
    commands: RUN,
    chart: true,
  },
  {
    key: 'registryTimeout',
    flag: 'registry-timeout',
    type: 'duration',
    arg: '<duration>',
    default: 15_000,
    min: 100,
    description: 'Timeout of one registry request.',
    commands: RUN,
    chart: true,
  },
  {
    key: 'insecureRegistry',
    flag: 'insecure-registry',
    type: 'string[]',
    arg: '<host[:port]>',
    default: [],
    description:
      'Registry host spoken to over plain HTTP; repeat or comma-separate. Everything else uses verified TLS.',
    commands: RUN,
    chart: true,
  },
  {
    key: 'registryCa',
    flag: 'registry-ca',
    type: 'string',
    arg: '<file>',
    description: 'PEM file of extra CA certificates trusted for registries (private registries).',
    commands: RUN,
    chart: true,
  },
  {
    key: 'dockerConfig',
    flag: 'docker-config',
    type: 'string',
    arg: '<file>',
    description:
      "A docker config.json with registry credentials used in addition to the pods' pull secrets (e.g. a mounted Secret).",
    commands: RUN,
    chart: true,
  },
  // Docker mode
  {
    key: 'dockerHost',
    flag: 'docker-host',
    type: 'string',
    arg: '<url>',
    default: 'unix:///var/run/docker.sock',
    description: 'Docker Engine API endpoint for --mode docker: unix:///path or tcp://host:port.',
    commands: RUN,
    chart: true,
  },
  {
    key: 'dockerTlsVerify',
    flag: 'docker-tls-verify',
    type: 'boolean',
    default: false,
    description:
      'Use TLS with a tcp:// --docker-host, verifying the engine against the CA in --docker-cert-path.',
    commands: RUN,
    chart: true,
  },
  {
    key: 'dockerAllowPlaintext',
    flag: 'docker-allow-plaintext',
    type: 'boolean',
    default: false,
    description:
      'Allow a tcp:// --docker-host without TLS. Pull secrets then cross the network in clear (X-Registry-Auth): only for a link that is private anyway (loopback, an SSH or VPN tunnel).',
    commands: RUN,
    chart: true,
  },
  {
    key: 'dockerCertPath',
    flag: 'docker-cert-path',
    type: 'string',
    arg: '<dir>',
    description: 'Directory holding ca.pem, cert.pem and key.pem for a TLS Docker endpoint.',
    commands: RUN,
    chart: true,
  },
  {
    key: 'platform',
    flag: 'platform',
    type: 'string',
    arg: '<os/arch[/variant]>',
    description: "Platform to pull in docker mode, e.g. linux/arm64. Default: the engine's own.",
    commands: RUN,
    chart: true,
  },
  // Cluster access
  {
    key: 'kubeconfig',
    flag: 'kubeconfig',
    type: 'string',
    arg: '<file>',
    description: 'Kubeconfig file. Default: KUBECONFIG, then in-cluster config, then ~/.kube/config.',
    commands: BOTH,
    chart: false,
  },
  {
    key: 'context',
    flag: 'context',
    type: 'string',
    arg: '<name>',
    description: 'Kubeconfig context to use.',
    commands: BOTH,
    chart: false,
  },
  // Status
  {
    key: 'cronjob',
    flag: 'cronjob',
    type: 'string',
    arg: '<name>',
    default: 'k8s-auto-updater',
    description: 'Name of the CronJob whose schedule and last result `status` reports.',
    commands: ['status'],
    chart: false,
    request: true,
  },
  {
    key: 'next',
    flag: 'next',
    type: 'integer',
    arg: '<n>',
    default: 5,
    min: 1,
    max: 100,
    description: 'How many upcoming run times `status` prints.',
    commands: ['status'],
    chart: false,
    request: true,
  },
  {
    key: 'schedule',
    flag: 'schedule',
    type: 'string',
    arg: '<cron>',
    description: 'Validate this cron expression offline and print its next run times (no cluster access).',
    commands: ['status'],
    chart: false,
    request: true,
  },
  {
    key: 'timeZone',
    flag: 'time-zone',
    type: 'string',
    arg: '<tz>',
    description: 'IANA time zone for --schedule, e.g. Europe/Berlin. Default: UTC.',
    commands: ['status'],
    chart: false,
    request: true,
  },
  // Output
  {
    key: 'output',
    flag: 'output',
    short: 'o',
    type: 'enum',
    choices: ['text', 'json'],
    default: 'text',
    description: 'Result format on stdout: a readable table, or one JSON document (see docs/output.md).',
    commands: BOTH,
    chart: true,
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    type: 'enum',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'silent'],
    default: 'info',
    description: 'Log level of the JSON logs on stderr.',
    commands: BOTH,
    chart: true,
  },
  {
    key: 'logFormat',
    flag: 'log-format',
    type: 'enum',
    choices: ['auto', 'json', 'pretty'],
    default: 'auto',
    description: 'Logs as JSON lines, pretty, or auto (pretty when stderr is a terminal).',
    commands: BOTH,
    chart: true,
  },
] as const satisfies readonly OptionSpec[];

/** The option table, for code that iterates it (CLI, docs, chart drift test). */
export const OPTIONS: readonly OptionSpec[] = TABLE;

/** One entry of the table with its literal types. */
export type OptionEntry = (typeof TABLE)[number];

/** The parsed value type of an option: what its `type` (and `choices`) parse to. */
export type OptionValue<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'integer' | 'duration'
    ? number
    : S['type'] extends 'string[]'
      ? string[]
      : S extends { type: 'enum'; choices: readonly (infer C extends string)[] }
        ? C
        : string;

/** The entries a command takes. */
export type OptionsOf<C extends Command> = OptionEntry extends infer S
  ? S extends { commands: readonly (infer K)[] }
    ? C extends K
      ? S
      : never
    : never
  : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * The validated settings of a command, derived from the table: one property per option the command takes, named by
 * its key, typed by its type; required when the option has a default, optional (unset) when it has none.
 */
export type SettingsOf<C extends Command> = Simplify<
  {
    [S in OptionsOf<C> as S extends { default: unknown } ? S['key'] : never]: OptionValue<S>;
  } & {
    [S in OptionsOf<C> as S extends { default: unknown } ? never : S['key']]?: OptionValue<S>;
  }
>;

/** Keys of the options a `serve` request may set (marked `request: true`). */
export type RequestKey = Extract<OptionEntry, { request: true }>['key'];

/** The options a `serve` request may set for one run; everything else is fixed by the server's own configuration. */
export const REQUEST_OPTIONS: readonly OptionSpec[] = TABLE.filter(
  (o) => 'request' in o && o.request === true,
);

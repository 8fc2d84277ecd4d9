// Error classes with a machine code and the process exit code they map to. Wrap causes with { cause }
// and name the resource or option involved in the message.

/** Exit codes (documented in docs/configuration.md): 0 success, 1 runtime failure or partial run, 2 configuration error. */
export const EXIT = { ok: 0, failure: 1, config: 2 } as const;

export class UpdaterError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad flags, environment, kubeconfig or chart values: nothing was done. Exit 2. */
export class ConfigError extends UpdaterError {
  constructor(message: string, options?: ErrorOptions) {
    super('ECONFIG', message, EXIT.config, options);
  }
}

/** A registry answered with a failure or could not be reached. `retryable` marks transient faults (429, 5xx, network). */
export class RegistryError extends UpdaterError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(message: string, opts: { retryable: boolean; status?: number; code?: string } & ErrorOptions) {
    super(opts.code ?? 'EREGISTRY', message, EXIT.failure, opts);
    this.retryable = opts.retryable;
    this.status = opts.status;
  }
}

/** The Kubernetes API refused or failed a call. `status` is the HTTP code when there was an answer. */
export class KubeApiError extends UpdaterError {
  readonly status: number | undefined;
  constructor(message: string, opts: { status?: number } & ErrorOptions = {}) {
    super('EKUBEAPI', message, EXIT.failure, opts);
    this.status = opts.status;
  }
}

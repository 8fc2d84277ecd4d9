// The shape both engine harnesses return, so a test can run the same scenario on dockerd and on podman.

export interface Engine {
  /** 'dockerd' or 'podman'. */
  kind: 'dockerd' | 'podman';
  /** The private API socket. */
  socketPath: string;
  /** `unix://<socketPath>`, as --docker-host takes it. */
  host: string;
  /** dockerd with `tls`: `tcp://127.0.0.1:PORT`, the same API over TLS. */
  tcpHost?: string;
  /** Stops the daemon (SIGTERM, then SIGKILL), unmounts and removes its temp dir; never rejects, idempotent. */
  stop(): Promise<void>;
}

export interface EngineOptions {
  /**
   * Registries the engine may reach over plain HTTP. dockerd takes host:port or CIDRs (default 127.0.0.0/8, so
   * registries on random loopback ports need no restart); podman takes registries.conf locations (default
   * 127.0.0.1 and localhost, which its prefix match applies to any port).
   */
  insecureRegistries?: readonly string[];
  /**
   * dockerd only: also listen on a loopback TCP port with `--tlsverify`: the server presents this certificate and
   * accepts only clients with a certificate signed by `caPem` (see engineTls()).
   */
  tls?: { caPem: string; certPem: string; keyPem: string };
}

// Per-route fault injection for the API simulator: latency, error Status answers and reset connections,
// so tests can drive the client through 429s, 5xx and network failures on chosen calls.

export interface FaultSpec {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Matched against the request path (without the query string); a string must be equal or a prefix ending at '/'. */
  path: RegExp | string;
  /** How many requests the fault hits; unlimited when omitted. */
  times?: number;
  /** Delay before the request is handled (or failed). */
  latencyMs?: number;
  /** Answer with a Status of this code instead of handling the request. */
  status?: number;
  /** With `status`: a Retry-After header (and details.retryAfterSeconds). */
  retryAfterSeconds?: number;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

export interface ActiveFault extends FaultSpec {
  id: number;
  hits: number;
}

/** Holds the active faults; the server asks it about every request before handling it. */
export class FaultInjector {
  private readonly faults = new Map<number, ActiveFault>();
  private nextId = 1;

  /** Registers a fault; returns its id for remove(). */
  add(spec: FaultSpec): number {
    const id = this.nextId++;
    this.faults.set(id, { ...spec, id, hits: 0 });
    return id;
  }

  /** Removes one fault; unknown ids are ignored. */
  remove(id: number): void {
    this.faults.delete(id);
  }

  /** Removes every fault. */
  clear(): void {
    this.faults.clear();
  }

  /** How many requests a fault has hit so far (0 for unknown ids). */
  hits(id: number): number {
    return this.faults.get(id)?.hits ?? 0;
  }

  /** The first fault matching a request, counted as a hit; used-up faults stay (for hits()) but match no more. */
  take(method: string, path: string): ActiveFault | undefined {
    for (const f of this.faults.values()) {
      if (f.times !== undefined && f.hits >= f.times) continue;
      if (f.method && f.method.toUpperCase() !== method.toUpperCase()) continue;
      const hit =
        typeof f.path === 'string'
          ? path === f.path || path.startsWith(f.path.endsWith('/') ? f.path : `${f.path}/`)
          : f.path.test(path);
      if (!hit) continue;
      f.hits++;
      return { ...f };
    }
    return undefined;
  }
}

// A fault-injecting HTTP proxy in front of a harness registry and its token server.
import type { Fault, FaultProxy, Registry } from './types.ts';

/** Starts the proxy on 127.0.0.1; rejects when it cannot listen. */
export async function startFaultProxy(_target: Registry, _opts: { fault?: Fault } = {}): Promise<FaultProxy> {
  throw new Error('startFaultProxy: not implemented yet');
}

// Starts the real CNCF registry (Debian's docker-registry) with a private config, storage and port.
import type { Registry, RegistryOptions } from './types.ts';

/** Starts a registry; rejects when docker-registry is missing or does not become ready. */
export async function startRegistry(_opts: RegistryOptions = {}): Promise<Registry> {
  throw new Error('startRegistry: not implemented yet');
}

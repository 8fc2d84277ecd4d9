// The real-registry test harness: the CNCF registry (docker-registry) in auth/TLS variants, deterministic image
// pushes, and a fault-injecting proxy in front of it.

export { startFaultProxy } from './fault-proxy.ts';
export { MANIFEST_ACCEPT, MEDIA_TYPES } from './media-types.ts';
export { deleteTag, pushImage } from './push.ts';
export { startRegistry } from './registry.ts';
export type * from './types.ts';

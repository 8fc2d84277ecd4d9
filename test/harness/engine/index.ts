// Real container engines for tests: a private dockerd and a private podman API service, same shape.

export { startDockerd } from './dockerd.ts';
export { startPodman } from './podman.ts';
export { requireRoot } from './require-root.ts';
export { type EngineTls, engineTls } from './tls.ts';
export type { Engine, EngineOptions } from './types.ts';

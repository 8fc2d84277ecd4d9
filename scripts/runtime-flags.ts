// How the container image runs Node (Dockerfile ENTRYPOINT and ENV), in one place so the benchmark measures the
// process exactly as it runs in a cluster; test/chart/image.test.ts checks the Dockerfile agrees.

/**
 * A 1 MiB young-generation semi-space: a short-lived job gains nothing from V8's default 16 MiB, which only holds
 * garbage longer (measured: peak RSS −20 MiB on the 5,000-pod benchmark, same wall time).
 */
export const NODE_FLAGS = ['--max-semi-space-size=1'] as const;

/** Two glibc malloc arenas: Node's few threads do not need one each (fewer half-used arenas resident). */
export const NODE_ENV = { MALLOC_ARENA_MAX: '2' } as const;

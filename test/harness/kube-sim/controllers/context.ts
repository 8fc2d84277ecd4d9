// What every simulated controller is handed: the store to write, the cache to read, the loop to queue work on.

import type { Store } from '../store.ts';
import type { ObjectCache } from './cache.ts';
import type { Runtime } from './runtime.ts';

export interface Ctx {
  store: Store;
  cache: ObjectCache;
  rt: Runtime;
}

/** A controller: reconciles one object key at a time, queued through enqueue(). */
export interface Controller {
  enqueue(key: string): void;
}

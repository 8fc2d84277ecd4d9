// Free loopback ports for servers that cannot listen on port 0 themselves (the registry takes its address from config).

import { createServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago; the caller retries on EADDRINUSE since another process may take it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('freePort: no port assigned'))));
    });
  });
}

// The node agent as a process of its own, for `node scripts/control-plane.ts up <dir>`: reads the API server's
// address, CA and admin token from <dir>, registers the nodes and serves their pods until SIGTERM/SIGINT.
// Usage: node test/harness/node-agent/main.ts <dir>

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNodeAgent } from './agent.ts';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node test/harness/node-agent/main.ts <control-plane dir>\n');
  process.exit(2);
}
const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
  url: string;
  adminToken: string;
  release: string;
};
const agent = await startNodeAgent({
  server: state.url,
  caPem: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
  token: state.adminToken,
  registries: {},
  kubeletVersion: state.release,
});
process.stdout.write(`node agent serving ${agent.nodeNames().join(', ')}\n`);
const stop = async () => {
  await agent.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
setInterval(() => {
  for (const e of agent.errors.splice(0)) process.stderr.write(`node agent: ${e}\n`);
}, 1000);

#!/usr/bin/env node
// Executable shim: runs the bundled CLI (dist/cli.js) when built, else the TypeScript sources of a checkout.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `k8s-auto-updater needs Node.js >= 22.19 (24 LTS recommended); this is ${process.version}.\n` +
      'In a checkout, run it through npm (npm run ... uses the Node 24 from node_modules/.bin).\n',
  );
  process.exit(2);
}
const bundle = new URL('../dist/cli.js', import.meta.url);
const { main } = existsSync(bundle) ? await import(bundle.href) : await import('../lib/cli/main.ts');
process.exitCode = await main(process.argv.slice(2), process.env);

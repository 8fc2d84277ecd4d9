#!/usr/bin/env node
// Executable shim. In a checkout (lib/ present) it runs the TypeScript sources, so a stale bundle can never shadow
// them (AUTO_UPDATER_USE_BUNDLE=1 runs dist/ instead, as the benchmark does); installed (image, npm), only dist/ exists.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `k8s-auto-updater needs Node.js >= 22.19 (24 LTS recommended); this is ${process.version}.\n` +
      'In a checkout, run it through npm (npm run ... uses the Node 24 from node_modules/.bin).\n',
  );
  process.exit(2);
}
const sources = new URL('../lib/cli/main.ts', import.meta.url);
const bundle = new URL('../dist/cli.js', import.meta.url);
const useSources = existsSync(sources) && process.env.AUTO_UPDATER_USE_BUNDLE !== '1';
const { main } = await import(useSources ? sources.href : bundle.href);
process.exitCode = await main(process.argv.slice(2), process.env);

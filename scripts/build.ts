// Bundles the CLI into dist/cli.js with esbuild (`npm run build`): one ESM file for Node 22+, so the container
// image needs no node_modules. Prints the bundle size; fails (exit 1) on any esbuild error.

import { mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

// Optional native parts of dockerode's ssh2 dependency: both are loaded inside try/catch and ssh2 falls back to
// pure JavaScript, so leaving them out keeps the bundle free of native code (ssh:// Docker hosts still work).
const EXTERNAL = ['cpu-features', '*.node'];

/**
 * Builds dist/cli.js and its lazily loaded chunks (dist/chunks/: docker mode, status, …) with source maps; resolves
 * to the size in bytes of what a registry-mode run loads at start (cli.js and the chunks it imports statically),
 * rejects with esbuild's errors.
 */
export async function bundle(outfile = `${root}dist/cli.js`): Promise<number> {
  const outdir = dirname(outfile);
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: { [basename(outfile, '.js')]: `${root}lib/cli/main.ts` },
    outdir,
    // Dynamic imports become chunks: a registry-mode run never loads dockerode (ssh2, grpc) or the status code.
    splitting: true,
    absWorkingDir: root,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // CommonJS dependencies (pino, dockerode, ...) call require(); ESM output has none, so provide one.
    banner: {
      js: [
        "import { createRequire as __cjsCreateRequire } from 'node:module';",
        'const require = __cjsCreateRequire(import.meta.url);',
      ].join('\n'),
    },
    external: EXTERNAL,
    // Whitespace only: stack traces keep their names, and the linked source map points back to lib/.
    minifyWhitespace: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    metafile: true,
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed with ${result.errors.length} error(s)`);
  const outputs = result.metafile?.outputs ?? {};
  const key = Object.keys(outputs).find((k) => k.endsWith(`${basename(outfile)}`));
  const entry = key ? outputs[key] : undefined;
  const eager = (entry?.imports ?? []).filter((i) => i.kind === 'import-statement' && !i.external);
  return statSync(outfile).size + eager.reduce((n, i) => n + statSync(join(root, i.path)).size, 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const size = await bundle();
    process.stdout.write(`dist/cli.js (+ chunks loaded at start): ${(size / 1024 / 1024).toFixed(2)} MiB\n`);
  } catch (e) {
    process.stderr.write(`build failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

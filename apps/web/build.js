#!/usr/bin/env node
// Builds the two pages with Vite: the device's page into dist/device (served by `tillsync device`) and the
// owner's dashboard into dist/dashboard (served by `tillsync serve`). `node build.js --out DIR` builds
// elsewhere (the browser tests build into a folder of their own, so they always test the sources).
// JSX goes through esbuild's automatic runtime, so no Babel plugin is needed.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf('--out');
const outRoot = outFlag > 0 ? path.resolve(process.argv[outFlag + 1] ?? '') : path.join(here, 'dist');

for (const page of ['device', 'dashboard']) {
  await build({
    configFile: false,
    root: path.join(here, page),
    base: '/',
    logLevel: 'warn',
    esbuild: { jsx: 'automatic' },
    build: {
      outDir: path.join(outRoot, page),
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: true,
      chunkSizeWarningLimit: 600,
    },
  });
}
process.stdout.write(`built the pages into ${path.relative(process.cwd(), outRoot) || '.'}\n`);

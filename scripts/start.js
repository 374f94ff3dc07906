#!/usr/bin/env node
// `npm start`: builds what is missing or out of date, then runs `tillsync demo`: a server on an embedded
// SQLite file with an owner, and two paired devices ("Till 1", "Tablet 2") with their pages. Arguments after
// `--` go to the demo (`npm start -- --fresh` starts over, `--port 9000` moves it). Ctrl+C stops it all.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a build step in the checkout; stops `npm start` with its exit code when it fails. */
function run(what, command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`npm start: ${what} failed\n`);
    process.exit(result.status ?? 1);
  }
}

/** The newest modification time of the files under these paths (0 when none exists). */
function newest(paths) {
  let latest = 0;
  const visit = (file) => {
    if (!fs.existsSync(file)) return;
    const stat = fs.statSync(file);
    if (stat.isDirectory()) for (const name of fs.readdirSync(file)) visit(path.join(file, name));
    else latest = Math.max(latest, stat.mtimeMs);
  };
  paths.forEach((file) => visit(path.join(root, file)));
  return latest;
}

// TypeScript's build is incremental: a moment when nothing changed.
run('the TypeScript build (tsc -b)', process.execPath, [
  path.join(root, 'node_modules/typescript/bin/tsc'),
  '-b',
]);

const web = 'apps/web';
const pagesBuilt = Math.min(
  newest([`${web}/dist/device/index.html`]),
  newest([`${web}/dist/dashboard/index.html`]),
);
const pagesChanged = newest([
  `${web}/src`,
  `${web}/device/index.html`,
  `${web}/dashboard/index.html`,
  `${web}/build.js`,
]);
if (pagesBuilt === 0 || pagesChanged > pagesBuilt)
  run('the pages build', process.execPath, [path.join(root, web, 'build.js')]);

const { main } = await import('../packages/cli/dist/main.js');
process.exitCode = await main([process.argv[0], 'tillsync', 'demo', ...process.argv.slice(2)]);

#!/usr/bin/env node
// The `tillsync` command. The TypeScript sources are built into dist/ by `npm install` (the root `prepare`).
import { main } from '../dist/main.js';

// A reader that stops early (`tillsync jobs list | head -1`) is not an error of the command.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

process.exitCode = await main(process.argv);

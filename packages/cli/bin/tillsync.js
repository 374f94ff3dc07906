#!/usr/bin/env node
// The `tillsync` command. The TypeScript sources are built into dist/ by `npm install` (the root `prepare`).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv);

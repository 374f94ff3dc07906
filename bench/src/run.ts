import fs from 'node:fs';
import os from 'node:os';
import { benchClient } from './client-bench.js';
import { benchDeviceAgent } from './device-bench.js';
import { benchServerPostgres, benchServerSqlite } from './server-bench.js';
import { benchJobs } from './jobs-bench.js';
import type { BenchResult } from './measure.js';

/**
 * `npm run bench`: runs every benchmark and writes BENCHMARKS.md. Each figure stands beside a baseline
 * measured in the same run on the same machine, so the ratio means something on a shared, noisy machine.
 */
const suites: Array<{ title: string; run: () => Promise<BenchResult[]> }> = [
  { title: 'Cloud server (SQLite)', run: benchServerSqlite },
  { title: 'Cloud server (PostgreSQL)', run: benchServerPostgres },
  { title: 'Device', run: benchClient },
  { title: 'Device agent', run: benchDeviceAgent },
  { title: 'Sync jobs', run: benchJobs },
];

const only = process.argv[2];
const sections = readSections('BENCHMARKS.md');
for (const suite of suites) {
  if (only && !suite.title.toLowerCase().includes(only.toLowerCase())) continue;
  process.stdout.write(`${suite.title}...\n`);
  const results = await suite.run();
  const lines = results.map((result) => {
    const ratio = result.baseline ? (result.value / result.baseline.value).toFixed(2) : '';
    const baseline = result.baseline
      ? `${result.baseline.value.toLocaleString('en')} ${result.unit} (${result.baseline.name})`
      : '';
    return `| ${result.name} | ${result.value.toLocaleString('en')} ${result.unit} | ${baseline} | ${ratio} | ${result.aim ?? ''} |`;
  });
  for (const line of lines) process.stdout.write(`${line}\n`);
  sections.set(
    suite.title,
    [
      `## ${suite.title}`,
      '',
      `Measured ${new Date().toISOString().slice(0, 10)}.`,
      '',
      '| what | figure | baseline (same run) | ratio | aim |',
      '|---|---|---|---|---|',
      ...lines,
    ].join('\n'),
  );
}

const header = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` (\`npm run bench -- <suite>\` runs one suite and keeps the others' figures): ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}.`,
  'The machine is shared and noisy: compare the ratio to the baseline measured in the same run, not the raw figures between runs.',
  '',
].join('\n');
const ordered = suites.flatMap((suite) => {
  const section = sections.get(suite.title);
  return section === undefined ? [] : [section];
});
fs.writeFileSync('BENCHMARKS.md', `${header}\n${ordered.join('\n\n')}\n`);
process.stdout.write('wrote BENCHMARKS.md\n');

/** The sections of an earlier BENCHMARKS.md, by suite title, so running one suite keeps the others. */
function readSections(file: string): Map<string, string> {
  const found = new Map<string, string>();
  if (!fs.existsSync(file)) return found;
  for (const part of fs
    .readFileSync(file, 'utf8')
    .split(/^(?=## )/m)
    .slice(1)) {
    const title = /^## (.+)$/m.exec(part)?.[1];
    if (title) found.set(title.trim(), part.trimEnd());
  }
  return found;
}

import fs from 'node:fs';
import os from 'node:os';
import { benchServer } from './server-bench.js';
import type { BenchResult } from './measure.js';

/**
 * `npm run bench`: runs every benchmark and writes BENCHMARKS.md. Each figure stands beside a baseline
 * measured in the same run on the same machine, so the ratio means something on a shared, noisy machine.
 */
const suites: Array<{ title: string; run: () => Promise<BenchResult[]> }> = [
  { title: 'Cloud server', run: benchServer },
];

const only = process.argv[2];
const sections: string[] = [];
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
  sections.push(
    [
      `## ${suite.title}`,
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
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}.`,
  'The machine is shared and noisy: compare the ratio to the baseline measured in the same run, not the raw figures between runs.',
  '',
].join('\n');
fs.writeFileSync('BENCHMARKS.md', `${header}\n${sections.join('\n\n')}\n`);
process.stdout.write('wrote BENCHMARKS.md\n');

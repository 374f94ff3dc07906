import fs from 'node:fs';
import { benchClient } from './client-bench.js';
import { benchCommandLine } from './cli-bench.js';
import { benchDeviceAgent } from './device-bench.js';
import { benchBulkImport } from './echo-bench.js';
import { benchSearch } from './search-bench.js';
import { benchServerPostgres, benchServerSqlite } from './server-bench.js';
import { benchJobs } from './jobs-bench.js';
import { benchIngestIntoBigTenant, dropFilledTenants } from './ingest-bench.js';
import { benchPeer, benchPeerMatureShop } from './peer-bench.js';
import { machineLines, processorLine } from './machine.js';
import { median, shareOfLimit, speedUp, type BenchResult } from './measure.js';

/**
 * `npm run bench`: runs every benchmark several times and writes BENCHMARKS.md. Each figure is the median
 * of the runs with their spread, and stands beside a baseline measured in the same run on the same machine,
 * so the ratio means something on a shared, noisy machine.
 */
const suites: Array<{ title: string; run: () => Promise<BenchResult[]> }> = [
  { title: 'Beside a peer (PouchDB), and the limits', run: benchPeer },
  { title: 'Beside a peer (PouchDB) on a mature shop', run: benchPeerMatureShop },
  { title: 'Command line', run: benchCommandLine },
  { title: 'Cloud server (SQLite)', run: benchServerSqlite },
  { title: 'Cloud server (PostgreSQL)', run: benchServerPostgres },
  { title: 'Push ingest into a big tenant', run: benchIngestIntoBigTenant },
  // The longest (first syncs of 1,000,000 rows) late, so a run cut short has the others.
  { title: 'Device', run: benchClient },
  { title: 'Device agent', run: benchDeviceAgent },
  { title: 'Bulk import on one device', run: benchBulkImport },
  { title: 'Till search', run: benchSearch },
  { title: 'Sync jobs', run: benchJobs },
];

const USAGE = `usage: npm run bench -- [suite] [--runs N]

Runs every benchmark suite (or those whose title contains <suite>) N times and writes BENCHMARKS.md,
keeping the sections of the suites not run. N defaults to TILLSYNC_BENCH_RUNS, or 3.
Sizes: TILLSYNC_BENCH_SERVER_ROWS, TILLSYNC_BENCH_TENANT_ROWS, TILLSYNC_BENCH_INGEST_ROWS, TILLSYNC_BENCH_FIRST_SYNC_ROWS (a list), TILLSYNC_BENCH_SHAPE_ROWS, TILLSYNC_BENCH_DEVICE_ROWS,
TILLSYNC_BENCH_LIVE_ROUNDS, TILLSYNC_BENCH_PEER_ROWS, TILLSYNC_BENCH_PEER_CHANGED_ROWS, TILLSYNC_BENCH_PEER_SHAPE_ROWS, TILLSYNC_BENCH_JOBS,
TILLSYNC_BENCH_CLI_RUNS, TILLSYNC_BENCH_SEARCH_ROWS, TILLSYNC_BENCH_IMPORT_ROWS.
Suites: ${suites.map((suite) => suite.title).join('; ')}.
`;

const options = parseArguments(process.argv.slice(2));
const sections = readSections('BENCHMARKS.md');
const header = await machineLines();
for (const suite of suites) {
  if (options.only && !suite.title.toLowerCase().includes(options.only.toLowerCase())) continue;
  const runs: BenchResult[][] = [];
  for (let run = 1; run <= options.runs; run++) {
    process.stdout.write(`${suite.title}, run ${run} of ${options.runs}...\n`);
    runs.push(await suite.run());
  }
  const section = renderSection(suite.title, runs);
  process.stdout.write(`${section}\n\n`);
  sections.set(suite.title, section);
  // Written after every suite, so a run cut short keeps what it measured.
  writeBenchmarks(header, sections);
}
await dropFilledTenants();
process.stdout.write('wrote BENCHMARKS.md\n');

function parseArguments(args: readonly string[]): { only: string | undefined; runs: number } {
  let only: string | undefined;
  let runs = Number(process.env.TILLSYNC_BENCH_RUNS ?? 3);
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] ?? '';
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (arg === '--runs') {
      runs = Number(args[++index]);
    } else if (arg.startsWith('--runs=')) {
      runs = Number(arg.slice('--runs='.length));
    } else if (arg.startsWith('-') || only !== undefined) {
      fail(`unknown argument ${arg} (see --help)`);
    } else {
      only = arg;
    }
  }
  if (!Number.isInteger(runs) || runs < 1)
    fail('--runs (or TILLSYNC_BENCH_RUNS) must be a whole number above 0');
  if (only !== undefined && !suites.some((suite) => suite.title.toLowerCase().includes(only.toLowerCase())))
    fail(`no suite matches "${only}" (see --help)`);
  return { only, runs };
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

/** The results of several runs of a suite, line by line (a line is the same position in every run). */
interface Line {
  readonly last: BenchResult;
  readonly values: number[];
  readonly baselines: number[];
  readonly peers: number[];
  readonly limits: number[];
}

function collect(runs: readonly BenchResult[][]): Line[] {
  const count = runs[0]?.length ?? 0;
  if (runs.some((results) => results.length !== count))
    throw new Error('the runs of a suite gave different lines');
  return Array.from({ length: count }, (_, index) => {
    const results = runs.map((results) => results[index]).filter((result) => result !== undefined);
    const last = results[results.length - 1];
    if (!last) throw new Error('a suite gave no results');
    return {
      last,
      values: results.map((result) => result.value),
      baselines: results.flatMap((result) => (result.baseline ? [result.baseline.value] : [])),
      peers: results.flatMap((result) => (result.peer ? [result.peer.value] : [])),
      limits: results.flatMap((result) => (result.limit ? [result.limit.value] : [])),
    };
  });
}

/** A figure as its median over the runs, with the lowest and highest in brackets. */
function figure(values: readonly number[], unit: string): string {
  const text = `${format(median(values))} ${unit}`;
  if (values.length < 2) return text;
  return `${text} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

function format(value: number): string {
  return value.toLocaleString('en', {
    maximumFractionDigits: Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0,
  });
}

/** The median over the runs of a ratio taken within each run, with its spread. */
function pairedRatio(
  values: readonly number[],
  others: readonly number[],
  ratio: (value: number, other: number) => number,
): string {
  if (others.length !== values.length || others.length === 0) return '';
  const ratios = values.map((value, index) => ratio(value, others[index] ?? NaN));
  const text = median(ratios).toFixed(2);
  if (ratios.length < 2) return text;
  return `${text} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

function renderSection(title: string, runs: readonly BenchResult[][]): string {
  const lines = collect(runs);
  const compared = lines.filter((line) => line.last.peer !== undefined);
  const plain = lines.filter((line) => line.last.peer === undefined);
  const out = [
    `## ${title}`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} on ${processorLine()}: the median of ${runs.length} run${runs.length === 1 ? '' : 's'}, the lowest and highest in brackets. A ratio is taken within each run, then its median.`,
    '',
  ];
  if (compared.length > 0) {
    out.push(
      '| what | Tillsync | peer (same run) | Tillsync is faster by | limit (same run) | Tillsync ÷ limit | aim |',
      '|---|---|---|---|---|---|---|',
      ...compared
        .map((line) => {
          const { last } = line;
          const better = last.higherIsBetter;
          return [
            last.name,
            figure(line.values, last.unit),
            last.peer ? `${figure(line.peers, last.unit)} (${last.peer.name})` : '',
            `${pairedRatio(line.values, line.peers, (value, peer) => speedUp(value, peer, better))}×`,
            last.limit ? `${figure(line.limits, last.unit)} (${last.limit.name})` : '',
            pairedRatio(line.values, line.limits, (value, limit) => shareOfLimit(value, limit, better)),
            last.aim ?? '',
          ].join(' | ');
        })
        .map((row) => `| ${row} |`),
    );
    if (plain.length > 0)
      out.push('', 'The limits above are built from these raw parts, measured in the same runs:', '');
  }
  if (plain.length > 0) {
    out.push(
      '| what | figure | baseline (same run) | ratio | aim |',
      '|---|---|---|---|---|',
      ...plain
        .map((line) => {
          const { last } = line;
          return [
            last.name,
            figure(line.values, last.unit),
            last.baseline ? `${figure(line.baselines, last.unit)} (${last.baseline.name})` : '',
            pairedRatio(line.values, line.baselines, (value, baseline) => value / baseline),
            last.aim ?? '',
          ].join(' | ');
        })
        .map((row) => `| ${row} |`),
    );
  }
  return out.join('\n');
}

function writeBenchmarks(machine: readonly string[], found: ReadonlyMap<string, string>): void {
  const header = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (`npm run bench -- <suite> --runs N` runs one suite N times and keeps the',
    "others' figures; `--help` lists the sizes to set for a quick run).",
    'The machine is shared and noisy: compare the ratio to the baseline measured in the same run, not the raw',
    'figures between runs.',
    '',
    ...machine,
    '',
  ].join('\n');
  const ordered = suites.flatMap((suite) => {
    const section = found.get(suite.title);
    return section === undefined ? [] : [section];
  });
  // Sections written by hand (a measurement no suite makes) stay, after the suites'.
  const titles = new Set(suites.map((suite) => suite.title));
  for (const [title, section] of found) if (!titles.has(title)) ordered.push(section);
  fs.writeFileSync('BENCHMARKS.md', `${header}\n${ordered.join('\n\n')}\n`);
}

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

// `spo experiment`: runs the rows of the paper's Tables 2-5 in miniature
// (lib/world/experiment.ts) and writes a Markdown report with intervals.
// Two phases: every trained row's learning rate is chosen on the validation
// split from one grid; then the chosen rate is trained with each seed and
// judged once on the test split. Runs accumulate in a JSON file, so an
// interrupted experiment continues where it stopped.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidArgumentError } from '../runtime/errors';
import { packageRoot } from '../native/native';
import { buildInfo } from '../runtime/runtime';
import type { SpoSettings } from '../training/trainer';
import { shapesWorldAssets, type WorldTrack } from '../world';
import { formatInterval, formatSignedInterval, interval, type Interval } from '../world/evaluation';
import {
  EXPERIMENT_LEARNING_RATES, EXPERIMENT_PARTS, EXPERIMENT_ROWS, GRID_EXTENSIONS, chooseLearningRate, finalRun, judgeBase, partSummary,
  rowGrid, splitPrompts, tuneRow, type ExperimentPlan, type ExperimentRow, type ExperimentTable, type FinalResult, type PartValues,
  type TuningResult,
} from '../world/experiment';
import { assetsWorld } from './demo';

export interface ExperimentCliOptions {
  world?: WorldTrack;
  assets?: string;
  tables: string;
  rows?: string;
  seeds: number;
  /** Guided UNet evaluations per training run. */
  budget: number;
  /** The learning-rate grid, comma-separated (default EXPERIMENT_LEARNING_RATES). */
  lrs?: string;
  /** Test prompts judged per final run. */
  prompts: number;
  /** Validation prompts judged per tuning run. */
  validationPrompts: number;
  evalSeed: number;
  /** SPO settings over the world's preset as JSON (dry runs on tiny settings). */
  settings?: string;
  results: string;
  report: string;
}

/** The training seed of every tuning run (the final runs use 1 .. --seeds). */
export const TUNING_SEED = 0;

const TABLE_TITLES: Record<ExperimentTable, string> = {
  2: 'Table 2: SPO against the baselines',
  3: 'Table 3: which candidate continues the trajectory (resampler)',
  4: 'Table 4: the evaluator (step-aware, step-agnostic, plain)',
  5: 'Table 5: candidates per step (k)',
};

/** The results file: every finished run of every experiment, each under the configuration it ran with. */
interface Store {
  format: 'spo-experiment/2';
  runs: StoredRun[];
}
type StoredRun =
  | { config: string; kind: 'base'; split: 'validation' | 'test'; prompts: number; values: PartValues }
  | { config: string; kind: 'tuning'; prompts: number; result: TuningResult }
  | { config: string; kind: 'final'; prompts: number; result: FinalResult };

/** Everything the report is written from. */
export interface ReportInput {
  world: WorldTrack;
  command: string;
  date: string;
  machine: string;
  budget: number;
  grid: number[];
  /** --seeds: the fewest seeds a row reports. */
  seeds: number;
  testPrompts: number;
  validationPrompts: number;
  evalSeed: number;
  settings: Partial<SpoSettings>;
  rows: ExperimentRow[];
  tables: ExperimentTable[];
  tuning: TuningResult[];
  finals: FinalResult[];
}

const group = (n: number) => Math.round(n).toLocaleString('en-US');

/** The half-width of the mean of equal-sized runs' means from their own halves: the spread of the images alone. */
const imagesHalf = (runs: readonly Interval[]) => Math.sqrt(runs.reduce((a, x) => a + x.half ** 2, 0)) / runs.length;

/**
 * Pools one interval per seed into one: the mean over all images; the wider
 * of the images' pooled half and the seeds' own interval (Student's t over the
 * seed means, which carries the training's variance as well as the images').
 */
export function pool(runs: readonly Interval[]): Interval {
  const n = runs.reduce((a, x) => a + x.n, 0);
  const mean = runs.reduce((a, x) => a + x.mean * x.n, 0) / n;
  const half = imagesHalf(runs);
  return { mean, half: runs.length > 1 ? Math.max(half, interval(runs.map((x) => x.mean)).half) : half, n };
}

/**
 * Row `a`'s gain over the base minus row `b`'s, over the seeds both ran: the
 * mean of the per-seed differences (seed s against seed s, judged on the same
 * test images) and the wider of their Student-t interval and the two rows'
 * image halves combined (ignoring the pairing's positive correlation, so
 * never narrower than the images allow). n: the seeds compared.
 */
export function gainDifference(a: readonly FinalResult[], b: readonly FinalResult[]): Interval | undefined {
  const pairs = a.flatMap((x) => b.filter((y) => y.seed === x.seed).map((y) => [x.parts.total!.gain, y.parts.total!.gain] as const));
  if (pairs.length === 0) return undefined;
  const seeds = interval(pairs.map(([x, y]) => x.mean - y.mean));
  const images = Math.hypot(imagesHalf(pairs.map(([x]) => x)), imagesHalf(pairs.map(([, y]) => y)));
  return { mean: seeds.mean, half: Math.max(seeds.half, images), n: pairs.length };
}

/** The seeds a row reports: 1 .. n, n at least `atLeast` and every further seed stored in a row from there (none picked after the fact). */
export function reportedSeeds(runs: readonly FinalResult[], atLeast: number): number[] {
  let n = atLeast;
  while (runs.some((x) => x.seed === n + 1)) n += 1;
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** The Markdown report: the learning-rate choice on the validation split, then each table on the test split. */
export function experimentReport(r: ReportInput): string {
  const parts = EXPERIMENT_PARTS[r.world] as readonly string[];
  const trained = r.rows.filter((row) => row.method !== 'base');
  const lines = [
    `# Results: the paper's comparisons in miniature (shapes world, ${r.world} track)`,
    '',
    `Written by \`${r.command}\` on ${r.date}. Machine: ${r.machine}.`,
    `Budget: ${group(r.budget)} guided UNet evaluations per training run, sampling and update together (one evaluation of one ` +
      'latent, the classifier-free pair counted once; SPO and D3PO as the engine counts them, in whole rounds, as many as bring ' +
      'the count nearest the budget; Diffusion-DPO: 2 x steps per sampled pair plus one epoch of updates over the kept pairs, ' +
      '4 per pair, in whole batches of pairs likewise). ' +
      'The evaluators and the judge are not UNets and cost nothing here.',
    r.grid.length > 1
      ? `Learning rate: each trained row's own, chosen from the grid ${r.grid.join(', ')} by the mean judge total on the first ` +
        `${r.validationPrompts} validation prompts (training seed ${TUNING_SEED}); where the best is the highest or lowest rate ` +
        `tried, the next half-decade past it is tried too (at most ${GRID_EXTENSIONS} each way), so a choice lies inside the ` +
        'rates tried; the test split is not read while choosing.'
      : `Learning rate: ${r.grid[0]} for every row (a grid of one: not tuned).`,
    `Test: the first ${r.testPrompts} test prompts, one image each, sampling seed ${r.evalSeed} for every row (rows are paired); ` +
      `the chosen rate trained with seeds 1 to ${r.seeds} or more (the seeds column: every seed stored for the row), each run judged once.`,
    ...(Object.keys(r.settings).length > 0 ? [`Settings over the world preset: \`${JSON.stringify(r.settings)}\`.`] : []),
    'Each cell: mean ± 95% interval over the test images of all seeds, the wider of the images\' pooled interval and ' +
      'Student\'s t over the seed means; "gain" is the paired mean of (row - base) per image; "SPO - row": SPO\'s gain minus ' +
      'the row\'s, seed against seed, with the wider of Student\'s t over those differences and the two rows\' image ' +
      'intervals combined; minutes: wall-clock per run, training and judging.',
    '',
  ];
  if (trained.length > 0 && r.grid.length > 1) {
    const grids = new Map(trained.map((row) => [row.id, rowGrid(row.id, r.tuning, r.grid)]));
    const columns = [...new Set([...grids.values()].flatMap((g) => [...g.rates, ...(g.next === undefined ? [] : [g.next])]))]
      .sort((a, b) => a - b);
    lines.push('## Learning rate per row (validation split: judge total, gain over base)', '',
      `| row | ${columns.map((lr) => `lr ${lr}`).join(' | ')} | chosen | tuning minutes |`,
      `|---|${columns.map(() => '---|').join('')}---|---|`);
    for (const row of trained) {
      const { rates, chosen } = grids.get(row.id)!;
      const cells = columns.map((lr) => {
        const t = r.tuning.find((x) => x.row === row.id && x.lr === lr);
        if (!rates.includes(lr)) return '-';
        if (t === undefined) return 'not run';
        const cell = `${formatInterval(t.total)} (${t.gain.mean >= 0 ? '+' : ''}${t.gain.mean.toFixed(3)})`;
        return lr === chosen ? `**${cell}**` : cell;
      });
      const minutes = r.tuning.filter((x) => x.row === row.id && rates.includes(x.lr)).reduce((a, x) => a + x.seconds, 0) / 60;
      lines.push(`| ${row.label} | ${cells.join(' | ')} | ${chosen ?? 'not yet'} | ${minutes.toFixed(1)} |`);
    }
    lines.push('');
  }
  const header = `| row | lr | seeds | UNet evaluations (sampling + update) | ${parts.join(' | ')} | gain over base (total) | ` +
    'SPO - row (total) | minutes per run |';
  const spoRuns = r.finals.filter((x) => x.row === 'spo');
  for (const table of r.tables) {
    const rows = r.rows.filter((row) => row.tables.includes(table));
    if (rows.length === 0) continue;
    lines.push(`## ${TABLE_TITLES[table]}`, '', header, `|${'---|'.repeat(7 + parts.length)}`);
    for (const row of rows) {
      const runs = r.finals.filter((x) => x.row === row.id);
      if (runs.length === 0) { lines.push(`| ${row.label} | not run |${' |'.repeat(5 + parts.length)}`); continue; }
      const versus = row.method === 'base' || row.id === 'spo' ? '-' : gainDifference(spoRuns, runs);
      const avg = (pick: (x: FinalResult) => number) => runs.reduce((a, x) => a + pick(x), 0) / runs.length;
      const evaluations = row.method === 'base' ? '0'
        : `${group(avg((x) => x.evaluations.all))} (${group(avg((x) => x.evaluations.sampling))} + ${group(avg((x) => x.evaluations.update))})`;
      lines.push(`| ${row.label} | ${row.method === 'base' ? '-' : runs[0]!.lr} | ${runs.map((x) => x.seed).join(', ')} | ${evaluations} | ` +
        `${parts.map((q) => formatInterval(pool(runs.map((x) => x.parts[q]!.value)))).join(' | ')} | ` +
        `${formatInterval(pool(runs.map((x) => x.parts.total!.gain)))} | ` +
        `${typeof versus === 'string' ? versus : versus === undefined ? 'no common seed' : `${formatSignedInterval(versus)} (${versus.n} seeds)`} | ` +
        `${(avg((x) => x.seconds) / 60).toFixed(1)} |`);
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

function parseGrid(text: string | undefined): number[] {
  if (text === undefined) return [...EXPERIMENT_LEARNING_RATES];
  const grid = text.split(',').map((v) => Number(v.trim()));
  if (grid.length === 0 || grid.some((lr) => !Number.isFinite(lr) || lr <= 0) || new Set(grid).size !== grid.length) {
    throw new InvalidArgumentError(`--lrs must be distinct positive numbers separated by commas, not '${text}'`);
  }
  return grid;
}

function parseSettings(text: string | undefined): Partial<SpoSettings> {
  if (text === undefined) return {};
  const value: unknown = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError('--settings must be a JSON object');
  if ('learningRate' in value) throw new InvalidArgumentError('--settings: the learning rate comes from --lrs');
  return value as Partial<SpoSettings>;
}

async function readStore(file: string): Promise<Store> {
  if (!existsSync(file)) return { format: 'spo-experiment/2', runs: [] };
  const stored = JSON.parse(await readFile(file, 'utf8')) as Store | unknown[];
  if (Array.isArray(stored) || stored.format !== 'spo-experiment/2') {
    throw new InvalidArgumentError(`${file} holds results of another format (budgets of sampled images); pass another --results`);
  }
  return stored;
}

/**
 * The configuration a stored run belongs to. The package's own models are
 * named relative to the package, so a results file travels between clones;
 * any other folder by its absolute path.
 */
export function experimentConfig(plan: ExperimentPlan): string {
  const inPackage = path.relative(packageRoot, plan.assets);
  const assets = inPackage.startsWith('..') || path.isAbsolute(inPackage) ? plan.assets : inPackage;
  return JSON.stringify({ world: plan.world, assets, budget: plan.budget, evalSeed: plan.evalSeed, settings: plan.settings });
}

export async function runExperiment(opts: ExperimentCliOptions, signal?: AbortSignal): Promise<number> {
  // Without --assets: the shipped models of --world (scenes, the demo's world, when neither is given).
  const assets = path.resolve(opts.assets ?? shapesWorldAssets(opts.world ?? 'scenes'));
  const madeFor = await assetsWorld(assets);
  const world = opts.world ?? madeFor;
  if (madeFor !== world) throw new InvalidArgumentError(`${assets} holds models of the ${madeFor} world, not ${world}`);
  const tables = opts.tables.split(',').map(Number) as ExperimentTable[];
  const wanted = opts.rows?.split(',');
  const rows = EXPERIMENT_ROWS.filter((r) => r.tables.some((t) => tables.includes(t)) && (!wanted || wanted.includes(r.id)));
  const grid = parseGrid(opts.lrs);
  const settings = parseSettings(opts.settings);
  const seeds = Array.from({ length: opts.seeds }, (_, i) => i + 1);
  const plan: ExperimentPlan = { world, assets, budget: opts.budget, settings, evalSeed: opts.evalSeed };
  // Runs made under another configuration stay in the file but count for nothing here.
  const config = experimentConfig(plan);
  const store = await readStore(opts.results);
  const save = async () => {
    await mkdir(path.dirname(opts.results), { recursive: true });
    await writeFile(opts.results, `${JSON.stringify(store, null, 2)}\n`);
  };
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const mine = <K extends StoredRun['kind']>(kind: K, prompts: number) =>
    store.runs.filter((x): x is Extract<StoredRun, { kind: K }> => x.config === config && x.kind === kind && x.prompts === prompts);

  /** The base model's per-image parts on a split (stored, so the split is read once). */
  const baseOn = async (split: 'validation' | 'test', prompts: string[]): Promise<PartValues> => {
    const stored = mine('base', prompts.length).find((x) => x.split === split);
    if (stored) return stored.values;
    log(`judging the base model on ${prompts.length} ${split} prompts ...`);
    const values = await judgeBase(plan, split, prompts, signal);
    store.runs.push({ config, kind: 'base', split, prompts: prompts.length, values });
    await save();
    return values;
  };
  const trained = rows.filter((r) => r.method !== 'base');

  // Phase 1: the learning rate per row, on the validation split only.
  const validation = splitPrompts(world, 'validation', opts.validationPrompts);
  const tuning = () => mine('tuning', validation.length).map((x) => x.result).filter((t) => t.seed === TUNING_SEED);
  if (grid.length > 1 && trained.length > 0) {
    const baseValidation = await baseOn('validation', validation);
    for (const row of trained) {
      for (let lr = rowGrid(row.id, tuning(), grid).next; lr !== undefined; lr = rowGrid(row.id, tuning(), grid).next) {
        log(`tuning ${row.id}: lr ${lr} (seed ${TUNING_SEED}, ${validation.length} validation prompts) ...`);
        const t = await tuneRow(row, plan, lr, TUNING_SEED, validation, baseValidation, signal);
        log(`  validation total ${formatInterval(t.total)}, ${group(t.evaluations.all)} UNet evaluations (${(t.seconds / 60).toFixed(1)} min)`);
        store.runs.push({ config, kind: 'tuning', prompts: validation.length, result: t });
        await save();
      }
      log(`${row.id}: lr ${chooseLearningRate(row.id, tuning(), grid)} chosen`);
    }
  }

  // Phase 2: the chosen rate per seed, each run judged once on the test split.
  const test = splitPrompts(world, 'test', opts.prompts);
  const baseTest = await baseOn('test', test);
  const finals = () => mine('final', test.length).map((x) => x.result);
  for (const row of trained) {
    const lr = grid.length === 1 ? grid[0]! : chooseLearningRate(row.id, tuning(), grid)!;
    for (const seed of seeds) {
      if (finals().some((x) => x.row === row.id && x.lr === lr && x.seed === seed)) continue;
      log(`${row.id} seed ${seed}, lr ${lr} ...`);
      const r = await finalRun(row, plan, lr, seed, test, baseTest, signal);
      log(`  test total ${formatInterval(r.parts.total!.value)}, gain ${formatInterval(r.parts.total!.gain)}, ` +
        `${group(r.evaluations.all)} UNet evaluations (${(r.seconds / 60).toFixed(1)} min)`);
      store.runs.push({ config, kind: 'final', prompts: test.length, result: r });
      await save();
    }
  }

  // The report: the base row from its test images; each trained row's runs at its chosen rate and the seeds asked for.
  const baseRow: FinalResult = {
    row: 'base', lr: 0, seed: 0, evaluations: { sampling: 0, update: 0, all: 0 }, rounds: 0, pairs: 0, seconds: 0,
    parts: Object.fromEntries((EXPERIMENT_PARTS[world] as readonly string[]).map((q) => [q, partSummary(baseTest, baseTest, q)])),
  };
  const chosen = (row: string) => (grid.length === 1 ? grid[0] : chooseLearningRate(row, tuning(), grid));
  const reported = trained.flatMap((row) => {
    const runs = finals().filter((x) => x.row === row.id && x.lr === chosen(row.id));
    const wanted = reportedSeeds(runs, opts.seeds);
    return runs.filter((x) => wanted.includes(x.seed)).sort((a, b) => a.seed - b.seed);
  });
  const info = buildInfo();
  const markdown = experimentReport({
    world, command: `spo experiment ${process.argv.slice(3).join(' ')}`.trim(), date: new Date().toISOString().slice(0, 10),
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, libtorch ${info.torchVersion}, ${info.intraOpThreads} intra-op threads, CPU`,
    budget: plan.budget, grid, seeds: opts.seeds, testPrompts: test.length, validationPrompts: validation.length, evalSeed: plan.evalSeed,
    settings, rows, tables: ([2, 3, 4, 5] as ExperimentTable[]).filter((t) => tables.includes(t)),
    tuning: tuning(), finals: rows.some((r) => r.method === 'base') ? [baseRow, ...reported] : reported,
  });
  await mkdir(path.dirname(opts.report), { recursive: true });
  await writeFile(opts.report, markdown);
  log(`report: ${opts.report}; results: ${opts.results}`);
  return 0;
}

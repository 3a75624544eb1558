// `spo experiment`: the paper's comparisons (Tables 2-5) in miniature on the
// shapes world, either track. Every row trains from the same base model at an
// equal budget of UNet evaluations, with its learning rate chosen on the
// validation split from one grid shared by every row; the chosen rate is then
// trained with several seeds and each run is judged once on the test split
// (the same prompts and sampling seeds for every row, so rows are paired).
//
// The budget counts guided UNet evaluations of one latent (the classifier-free
// pair counts once), sampling and update together, as the engine counts them:
//   SPO and D3PO: the Trainer's samplingEvaluations + updateEvaluations (from
//     its events), summed over whole rounds, as many as bring the sum nearest
//     the budget (within half a round, above or below; the table shows each
//     run's count);
//   Diffusion-DPO: its judge-labelled pairs are sampled by the base model
//     (2 images x steps evaluations per pair, samplingEvaluations below) and it
//     trains one epoch over the kept pairs (the engine's updateEvaluations,
//     4 per pair and step); pairs are drawn a batch at a time, as many batches
//     as bring sampling plus the epoch's update nearest the budget.
// The learned evaluators and the judge are not UNets and cost nothing here.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trainDiffusionDpo } from '../training/baselines';
import { InvalidArgumentError } from '../runtime/errors';
import { Evaluator } from '../models/evaluator';
import type { PreferencePair } from '../training/pairs';
import { Pipeline } from '../models/pipeline';
import { Trainer, type SpoSettings, type TrainerEvent } from '../training/trainer';
import { WorldJudgeScorer } from './judge-scorer';
import { JUDGE_PARTS, type WorldTrack } from './tracks';
import { JUDGE_TIE_MARGIN, SHAPES_WORLD_SPO, stepAgnosticEvaluatorFolder, stepAwareEvaluatorFolder, worldPrompts, worldSplitOf, type WorldSplit } from './world';
import { interval, sampleAndJudge, type Interval } from './evaluation';

export type ExperimentTable = 2 | 3 | 4 | 5;
/** A shipped evaluator, or the judge itself as an oracle step evaluator. */
export type EvaluatorKind = 'step-aware' | 'step-agnostic' | 'plain' | 'oracle';

export interface ExperimentRow {
  id: string;
  tables: ExperimentTable[];
  label: string;
  method: 'base' | 'spo' | 'd3po' | 'diffusion-dpo';
  evaluator: EvaluatorKind;
  settings: Partial<SpoSettings>;
}

const spo = (id: string, tables: ExperimentTable[], label: string, settings: Partial<SpoSettings> = {},
  evaluator: EvaluatorKind = 'step-aware'): ExperimentRow => ({ id, tables, label, method: 'spo', evaluator, settings });

/** Every row; SPO with the default settings serves as the reference row of each table. */
export const EXPERIMENT_ROWS: ExperimentRow[] = [
  { id: 'base', tables: [2, 3, 4, 5], label: 'base model', method: 'base', evaluator: 'step-aware', settings: {} },
  spo('spo', [2, 3, 4, 5], 'SPO (random resampler, step-aware, k = 4)'),
  { id: 'diffusion-dpo', tables: [2], label: 'Diffusion-DPO', method: 'diffusion-dpo', evaluator: 'step-aware', settings: {} },
  { id: 'd3po', tables: [2], label: 'D3PO', method: 'd3po', evaluator: 'step-aware', settings: { method: 'd3po' } },
  spo('resampler-none', [3], 'resampler none (independent trajectories)', { resampler: 'none' }),
  spo('resampler-win', [3], 'resampler win', { resampler: 'win' }),
  spo('resampler-lose', [3], 'resampler lose', { resampler: 'lose' }),
  spo('evaluator-step-agnostic', [4], 'step-agnostic evaluator', {}, 'step-agnostic'),
  spo('evaluator-plain', [4], 'plain evaluator (clean images only)', {}, 'plain'),
  spo('evaluator-oracle', [4], 'the judge itself as step evaluator (oracle bound)', {}, 'oracle'),
  spo('k2', [5], 'k = 2', { k: 2 }),
  spo('k8', [5], 'k = 8', { k: 8 }),
];

/** The parts each track's tables report: the total and the parts it is the weighted sum of (JUDGE_PARTS' head). */
export const EXPERIMENT_PARTS = {
  relations: ['total', 'alignment', 'quality'],
  scenes: ['total', 'alignment', 'coarse', 'fine'],
} as const satisfies { [T in WorldTrack]: readonly (typeof JUDGE_PARTS)[T][number][] };

/** The default learning-rate grid: the world preset's rate and a factor of about 3 either side. */
export const EXPERIMENT_LEARNING_RATES = [3e-4, 1e-3, 3e-3];

/** What every run of one experiment shares. */
export interface ExperimentPlan {
  world: WorldTrack;
  /** A shapes-world folder of that world: base/, evaluator-{step-aware,step-agnostic,plain}/ (evaluatorFolder: the rollout-trained pair where there is one). */
  assets: string;
  /** Guided UNet evaluations per training run, sampling and update together (see the header). */
  budget: number;
  /** Settings over SHAPES_WORLD_SPO for every row and the judged samples (tests make them small). */
  settings?: Partial<SpoSettings>;
  /** Sampling seed of every judged image (the same for every row and split). */
  evalSeed: number;
}

/**
 * The evaluator folder a row of this kind trains with: the rollout-trained
 * step-aware model and its step-agnostic twin where `assets` has them (the
 * scenes world ships both), else the noisy-pair ones; evaluator-plain for plain.
 */
export function evaluatorFolder(assets: string, kind: Exclude<EvaluatorKind, 'oracle'>): string {
  if (kind === 'step-aware') return stepAwareEvaluatorFolder(assets);
  if (kind === 'step-agnostic') return stepAgnosticEvaluatorFolder(assets);
  return path.join(assets, 'evaluator-plain');
}

/** A run's guided UNet evaluations. */
export interface Evaluations {
  sampling: number;
  update: number;
  all: number;
}

/** The settings a row trains with at learning rate `lr`: the preset, the plan's, the row's. */
export function rowSettings(row: ExperimentRow, plan: Pick<ExperimentPlan, 'settings'>, lr?: number): Partial<SpoSettings> {
  return { ...SHAPES_WORLD_SPO, ...plan.settings, ...row.settings, ...(lr === undefined ? {} : { learningRate: lr }) };
}

/** Guided evaluations of sampling `images` images with `steps` DDIM steps: one per image and step. */
export function samplingEvaluations(images: number, steps: number): number {
  return images * steps;
}

/** The guided evaluations of one Trainer run, summed from its events (the pairs and update events of every round). */
function countEvents(into: { sampling: number; update: number; perRound: Map<number, number> }) {
  const add = (round: number, n: number) => into.perRound.set(round, (into.perRound.get(round) ?? 0) + n);
  return (e: TrainerEvent) => {
    if (e.type === 'pairs') { into.sampling += e.samplingEvaluations; add(e.round, e.samplingEvaluations); }
    if (e.type === 'update') {
      const n = e.policyEvaluations + e.referenceEvaluations;
      into.update += n;
      add(e.round, n);
    }
  };
}

/**
 * Whether another whole unit (a round, a batch of pairs) of about `unit`
 * evaluations brings a run nearer its budget, `left` evaluations away: so every
 * method ends within half a unit of the budget, above or below.
 */
export function moreRounds(left: number, unit: number): boolean {
  return left > unit / 2;
}

/** A trained pipeline (the caller disposes it) and what its training cost. */
export interface TrainedRun {
  pipeline: Pipeline;
  /** SPO / D3PO rounds, or Diffusion-DPO's optimiser steps. */
  rounds: number;
  pairs: number;
  evaluations: Evaluations;
  seconds: number;
}

/**
 * SPO or D3PO in whole rounds, as many as bring the engine's count of
 * evaluations nearest the budget (moreRounds): chunks of rounds, each resumed
 * from the previous chunk's checkpoint on a fresh pipeline, the chunk sized by
 * the most any round has cost so far.
 */
export async function trainToBudget(row: ExperimentRow, plan: ExperimentPlan, lr: number, seed: number,
  signal?: AbortSignal): Promise<TrainedRun> {
  if (row.method !== 'spo' && row.method !== 'd3po') throw new InvalidArgumentError(`trainToBudget: ${row.id} is not SPO or D3PO`);
  const started = performance.now();
  const checkpointDir = mkdtempSync(path.join(os.tmpdir(), 'spo-experiment-'));
  const count = { sampling: 0, update: 0, perRound: new Map<number, number>() };
  let pipeline: Pipeline | undefined, rounds = 0, pairs = 0;
  try {
    while (true) {
      const most = Math.max(0, ...count.perRound.values()), left = plan.budget - count.sampling - count.update;
      if (most > 0 && !moreRounds(left, most)) break;
      const chunk = most === 0 ? 1 : Math.max(1, Math.floor(left / most));
      pipeline?.dispose();
      pipeline = undefined;
      pipeline = await Pipeline.load(path.join(plan.assets, 'base'), { signal });
      const evaluator = row.evaluator === 'oracle' ? new WorldJudgeScorer(10, { track: plan.world })
        : await Evaluator.load(evaluatorFolder(plan.assets, row.evaluator), { signal });
      try {
        const r = await new Trainer({
          pipeline, evaluator, prompts: worldPrompts('train', plan.world), ...rowSettings(row, plan, lr), seed,
          checkpointDir, maxRounds: rounds + chunk,
        }).train({ signal, onEvent: countEvents(count) });
        if (r.roundsDone !== rounds + chunk) throw new Error(`${row.id} stopped at round ${r.roundsDone}, not ${rounds + chunk}`);
        rounds = r.roundsDone;
        pairs += r.pairsKept;
      } finally {
        if (evaluator instanceof Evaluator) evaluator.dispose();
      }
    }
  } catch (e) {
    pipeline?.dispose();
    throw e;
  } finally {
    rmSync(checkpointDir, { recursive: true, force: true });
  }
  return {
    pipeline: pipeline!, rounds, pairs, seconds: (performance.now() - started) / 1000,
    evaluations: { sampling: count.sampling, update: count.update, all: count.sampling + count.update },
  };
}

/** The train prompts Diffusion-DPO's pairs are drawn from: a fixed stride through the split per seed. */
function trainPrompts(world: WorldTrack, seed: number, start: number, count: number): string[] {
  const all = worldPrompts('train', world);
  return Array.from({ length: count }, (_, i) => all[(seed * 7919 + (start + i) * 104729) % all.length]!);
}

/**
 * Diffusion-DPO at the budget: judge-labelled pairs of base-model samples (the
 * Pick-a-Pic stand-in; ties carry no preference and are dropped), a batch of
 * sampleBatchSize prompts at a time, as many batches as bring sampling plus
 * one epoch of updates over the kept pairs nearest the budget, then that epoch.
 */
export async function trainDiffusionDpoToBudget(row: ExperimentRow, plan: ExperimentPlan, lr: number, seed: number,
  signal?: AbortSignal): Promise<TrainedRun> {
  const started = performance.now();
  const s = rowSettings(row, plan, lr);
  const steps = s.steps!, batch = s.trainBatchSize!, chunk = s.sampleBatchSize!;
  const sampling = { steps, guidanceScale: s.guidanceScale, track: plan.world, batch: chunk };
  const pipeline = await Pipeline.load(path.join(plan.assets, 'base'), { signal });
  try {
    const pairs: PreferencePair[] = [];
    let sampled = 0;
    const updateCost = (kept: number) => 4 * batch * Math.ceil(kept / batch);
    // A batch of pairs costs its sampling and, at most (no ties), 4 update evaluations per pair.
    const unit = samplingEvaluations(2 * chunk, steps) + 4 * chunk;
    while (sampled === 0 || moreRounds(plan.budget - samplingEvaluations(2 * sampled, steps) - updateCost(pairs.length), unit)) {
      const prompts = trainPrompts(plan.world, seed, sampled, chunk);
      const a = await sampleAndJudge(pipeline, prompts, { ...sampling, seed: seed * 1_000_003 + 2 * sampled }, { signal });
      const b = await sampleAndJudge(pipeline, prompts, { ...sampling, seed: seed * 1_000_003 + 2 * sampled + 1 }, { signal });
      sampled += prompts.length;
      prompts.forEach((prompt, i) => {
        const d = a.scores[i]!.total - b.scores[i]!.total;
        if (Math.abs(d) >= JUDGE_TIE_MARGIN) pairs.push({ prompt, image0: a.images[i]!, image1: b.images[i]!, label: d > 0 ? 0 : 1 });
      });
    }
    const optimizerSteps = Math.ceil(pairs.length / batch);
    let update = 0;
    if (optimizerSteps > 0) {
      const r = await trainDiffusionDpo({
        pipeline, pairs, steps: optimizerSteps, batchSize: batch, learningRate: lr, loraRank: s.loraRank, loraAlpha: s.loraAlpha, seed,
      }, { signal });
      update = r.updateEvaluations;
    }
    const sampledEvaluations = samplingEvaluations(2 * sampled, steps);
    return {
      pipeline, rounds: optimizerSteps, pairs: pairs.length, seconds: (performance.now() - started) / 1000,
      evaluations: { sampling: sampledEvaluations, update, all: sampledEvaluations + update },
    };
  } catch (e) {
    pipeline.dispose();
    throw e;
  }
}

/** Trains `row` at `lr` from the base model at the plan's budget (the base row: the base model, untrained). */
export async function trainRow(row: ExperimentRow, plan: ExperimentPlan, lr: number, seed: number,
  signal?: AbortSignal): Promise<TrainedRun> {
  if (row.method === 'spo' || row.method === 'd3po') return trainToBudget(row, plan, lr, seed, signal);
  if (row.method === 'diffusion-dpo') return trainDiffusionDpoToBudget(row, plan, lr, seed, signal);
  const pipeline = await Pipeline.load(path.join(plan.assets, 'base'), { signal });
  return { pipeline, rounds: 0, pairs: 0, evaluations: { sampling: 0, update: 0, all: 0 }, seconds: 0 };
}

/** Per judged image, each of the track's experiment parts. */
export type PartValues = Record<string, number>[];

/** `count` prompts of a split (its first, in the grammar's fixed order). */
export function splitPrompts(world: WorldTrack, split: 'validation' | 'test', count: number): string[] {
  const all = worldPrompts(split, world);
  if (!Number.isInteger(count) || count < 1 || count > all.length) {
    throw new InvalidArgumentError(`${split} prompts: an integer in [1, ${all.length}], not ${count}`);
  }
  return all.slice(0, count);
}

/**
 * Judges a pipeline on prompts of `split`, one image each with the plan's
 * sampling seed. Every prompt must belong to `split`: tuning passes
 * 'validation', so no test prompt can reach a learning-rate choice.
 */
export async function judgeSplit(pipeline: Pipeline, plan: ExperimentPlan, split: WorldSplit, prompts: string[],
  signal?: AbortSignal): Promise<PartValues> {
  const stray = prompts.find((p) => worldSplitOf(p, plan.world) !== split);
  if (stray !== undefined) {
    throw new InvalidArgumentError(`judging on the ${split} split, but "${stray}" is a ${worldSplitOf(stray, plan.world)} prompt` +
      (split === 'validation' ? ' (tuning reads the validation split only; the test split is read once per final run)' : ''));
  }
  const s = { ...SHAPES_WORLD_SPO, ...plan.settings };
  const judged = await sampleAndJudge(pipeline, prompts, {
    seed: plan.evalSeed, steps: s.steps, guidanceScale: s.guidanceScale, track: plan.world,
  }, { signal });
  const parts = EXPERIMENT_PARTS[plan.world] as readonly string[];
  return judged.scores.map((score) => Object.fromEntries(parts.map((q) => [q, (score as unknown as Record<string, number>)[q]!])));
}

/** One part's mean with its 95% interval over the images, and the paired gain over the base's images. */
export function partSummary(values: PartValues, base: PartValues, part: string): { value: Interval; gain: Interval } {
  if (values.length !== base.length) throw new InvalidArgumentError(`${values.length} judged images against the base's ${base.length}`);
  return {
    value: interval(values.map((v) => v[part]!)),
    gain: interval(values.map((v, i) => v[part]! - base[i]![part]!)),
  };
}

/** A tuning run: `row` at `lr` (seed `seed`), judged on the validation prompts. */
export interface TuningResult {
  row: string;
  lr: number;
  seed: number;
  /** Mean judge total on the validation prompts and its paired gain over the base there. */
  total: Interval;
  gain: Interval;
  evaluations: Evaluations;
  rounds: number;
  seconds: number;
}

/** Trains `row` at `lr` and judges it on validation prompts only (InvalidArgumentError for any other prompt). */
export async function tuneRow(row: ExperimentRow, plan: ExperimentPlan, lr: number, seed: number, validation: string[],
  baseOnValidation: PartValues, signal?: AbortSignal): Promise<TuningResult> {
  // Refused before any training: a tuning run never reads another split.
  const stray = validation.find((p) => worldSplitOf(p, plan.world) !== 'validation');
  if (stray !== undefined) {
    throw new InvalidArgumentError(`tuning reads the validation split only; "${stray}" is a ${worldSplitOf(stray, plan.world)} prompt`);
  }
  const run = await trainRow(row, plan, lr, seed, signal);
  try {
    const started = performance.now();
    const values = await judgeSplit(run.pipeline, plan, 'validation', validation, signal);
    const { value, gain } = partSummary(values, baseOnValidation, 'total');
    return {
      row: row.id, lr, seed, total: value, gain, evaluations: run.evaluations, rounds: run.rounds,
      seconds: run.seconds + (performance.now() - started) / 1000,
    };
  } finally {
    run.pipeline.dispose();
  }
}

/** How many half-decades past the grid's edge a row's tuning may go, on each side. */
export const GRID_EXTENSIONS = 2;

/** The rate half a decade above (+1) or below (-1) `lr` on the 1, 3, 10 ladder (3e-3 -> 1e-2, 3e-4 -> 1e-4). */
export function halfDecadeBeyond(lr: number, direction: 1 | -1): number {
  const rung = Math.round(2 * Math.log10(lr)) + direction;
  return Number((10 ** (rung / 2)).toPrecision(1));
}

/** The rates one row is tuned on and, once they are all run, its choice. */
export interface RowGrid {
  /** Ascending: the grid, then any half-decades tried past its edges. */
  rates: number[];
  /** The rate to tune next; undefined once the choice is settled. */
  next?: number;
  /** The rate with the highest mean validation total (the lowest of equals); undefined while a rate waits. */
  chosen?: number;
}

/**
 * A row's learning rates: every rate of the grid; then, while the best so far
 * is the highest (lowest) rate tried, the next half-decade past it, at most
 * GRID_EXTENSIONS each way. A choice at a grid's edge says only that the best
 * rate may lie beyond it, so every row is tuned until its best lies inside
 * (or the extensions run out). A grid of one rate is not tuned.
 */
export function rowGrid(row: string, tuning: readonly TuningResult[], grid: readonly number[]): RowGrid {
  const rates = [...grid].sort((a, b) => a - b);
  if (rates.length === 1) return { rates, chosen: rates[0] };
  const total = (lr: number) => tuning.find((x) => x.row === row && x.lr === lr)?.total.mean;
  const waiting = rates.find((lr) => total(lr) === undefined);
  if (waiting !== undefined) return { rates, next: waiting };
  for (let above = 0, below = 0; ;) {
    const best = rates.reduce((a, lr) => (total(lr)! > total(a)! ? lr : a));
    const direction = best === rates.at(-1) && above < GRID_EXTENSIONS ? 1 : best === rates[0] && below < GRID_EXTENSIONS ? -1 : 0;
    if (direction === 0) return { rates, chosen: best };
    const beyond = halfDecadeBeyond(best, direction);
    if (total(beyond) === undefined) return { rates, next: beyond };
    if (direction === 1) { rates.push(beyond); above += 1; } else { rates.unshift(beyond); below += 1; }
  }
}

/** The learning rate `row` trains its final runs with (rowGrid's choice); undefined while tuning is unfinished. */
export function chooseLearningRate(row: string, tuning: readonly TuningResult[], grid: readonly number[]): number | undefined {
  return rowGrid(row, tuning, grid).chosen;
}

/** A final run: the chosen rate with one training seed, judged once on the test prompts. */
export interface FinalResult {
  row: string;
  lr: number;
  seed: number;
  /** Each experiment part: the mean over the test images and the paired gain over the base. */
  parts: Record<string, { value: Interval; gain: Interval }>;
  evaluations: Evaluations;
  rounds: number;
  pairs: number;
  seconds: number;
}

/** Trains `row` at `lr` with `seed` and judges it once on the test prompts, paired with the base's test images. */
export async function finalRun(row: ExperimentRow, plan: ExperimentPlan, lr: number, seed: number, test: string[],
  baseOnTest: PartValues, signal?: AbortSignal): Promise<FinalResult> {
  const run = await trainRow(row, plan, lr, seed, signal);
  try {
    const started = performance.now();
    const values = await judgeSplit(run.pipeline, plan, 'test', test, signal);
    const parts = Object.fromEntries((EXPERIMENT_PARTS[plan.world] as readonly string[])
      .map((q) => [q, partSummary(values, baseOnTest, q)]));
    return {
      row: row.id, lr, seed, parts, evaluations: run.evaluations, rounds: run.rounds, pairs: run.pairs,
      seconds: run.seconds + (performance.now() - started) / 1000,
    };
  } finally {
    run.pipeline.dispose();
  }
}

/** The base model judged on `prompts` of `split` (shared by every row's pairing). */
export async function judgeBase(plan: ExperimentPlan, split: 'validation' | 'test', prompts: string[],
  signal?: AbortSignal): Promise<PartValues> {
  const pipeline = await Pipeline.load(path.join(plan.assets, 'base'), { signal });
  try {
    return await judgeSplit(pipeline, plan, split, prompts, signal);
  } finally {
    pipeline.dispose();
  }
}

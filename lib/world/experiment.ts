// `spo experiment`: the paper's comparisons (Tables 2-5) in miniature on the
// shapes world. Every row trains from the same shipped base model at an equal
// budget of sampled images, then the judge scores the same test prompts with
// the same sampling seeds (so rows are paired), for several training seeds.
//
// The budget counts images the preference signal is computed on:
//   SPO (any resampler / evaluator / k): prompts x branch steps x k per round
//   D3PO: 2 final images per prompt per round
//   Diffusion-DPO: 2 base-model images per judge-labelled pair
import path from 'node:path';
import { trainDiffusionDpo } from '../baselines';
import { Evaluator } from '../evaluator';
import type { JobOptions } from '../jobs';
import type { PreferencePair } from '../pairs';
import { Pipeline } from '../pipeline';
import { Trainer, type SpoSettings } from '../trainer';
import { WorldJudgeScorer } from './judge-scorer';
import { JUDGE_TIE_MARGIN, SHAPES_WORLD_SPO, worldPrompts } from './world';
import { pairedDifference, partInterval, sampleAndJudge, type Interval, type JudgedSet } from './evaluation';

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

export interface ExperimentOptions {
  assets: string;
  rows: ExperimentRow[];
  seeds: number[];
  /** Sampled images per training run (see the header). */
  budget: number;
  /** Test prompts judged per row (the split has 500). */
  testPrompts: number;
  /** Sampling seed of the judged test images (the same for every row). */
  evalSeed: number;
  work: string;
}

export interface RowResult {
  row: ExperimentRow;
  seed: number;
  budget: number;
  testPrompts: number;
  rounds: number;
  images: number;
  seconds: number;
  total: Interval;
  alignment: Interval;
  quality: Interval;
  /** After - base over the same prompts and sampling seeds. */
  gain: Interval;
}

const settingsOf = (row: ExperimentRow) => ({ ...SHAPES_WORLD_SPO, ...row.settings });

/** Images one training round samples for `row` (the budget's unit). */
export function imagesPerRound(row: ExperimentRow): number {
  const s = settingsOf(row);
  const prompts = s.sampleBatchSize;
  if (row.method === 'd3po') return prompts * 2;
  return prompts * (s.steps - s.divertStartStep) * (s.k ?? 4);
}

export function roundsFor(row: ExperimentRow, budget: number): number {
  return Math.max(1, Math.round(budget / imagesPerRound(row)));
}

/** Judge-labelled pairs of base-model samples (the Pick-a-Pic stand-in) for Diffusion-DPO. */
async function judgedPairs(pipeline: Pipeline, prompts: string[], seed: number, options?: JobOptions): Promise<PreferencePair[]> {
  const sampling = { steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale };
  const a = await sampleAndJudge(pipeline, prompts, { ...sampling, seed }, options);
  const b = await sampleAndJudge(pipeline, prompts, { ...sampling, seed: seed + 1_000_003 }, options);
  return prompts.map((prompt, i) => {
    const d = a.scores[i]!.total - b.scores[i]!.total;
    return { prompt, image0: a.images[i]!, image1: b.images[i]!, label: Math.abs(d) < JUDGE_TIE_MARGIN ? 'tie' : d > 0 ? 0 : 1 };
  });
}

function trainPrompts(seed: number, count: number): string[] {
  const all = worldPrompts('train');
  const out: string[] = [];
  for (let i = 0; i < count; ++i) out.push(all[(seed * 7919 + i * 104729) % all.length]!);
  return out;
}

/** Trains one row from the base model and judges it; `base` is the base model's judged test set. */
export async function runRow(row: ExperimentRow, seed: number, o: ExperimentOptions, base: JudgedSet,
  options?: JobOptions): Promise<RowResult> {
  const started = performance.now();
  const pipeline = await Pipeline.load(path.join(o.assets, 'base'), { signal: options?.signal });
  let rounds = 0, images = 0;
  try {
    if (row.method === 'spo' || row.method === 'd3po') {
      const evaluator = row.evaluator === 'oracle' ? new WorldJudgeScorer()
        : await Evaluator.load(path.join(o.assets, `evaluator-${row.evaluator}`), { signal: options?.signal });
      rounds = roundsFor(row, o.budget);
      images = rounds * imagesPerRound(row);
      try {
        await new Trainer({
          pipeline, evaluator, prompts: worldPrompts('train'), ...settingsOf(row), seed, maxRounds: rounds,
        }).train({ signal: options?.signal });
      } finally {
        if (evaluator instanceof Evaluator) evaluator.dispose();
      }
    } else if (row.method === 'diffusion-dpo') {
      const count = Math.max(1, Math.floor(o.budget / 2));
      images = count * 2;
      // Ties carry no preference (Diffusion-DPO skips them); with none left the row stays the base model.
      const pairs = (await judgedPairs(pipeline, trainPrompts(seed, count), seed, options)).filter((p) => p.label !== 'tie');
      // The row's own settings over the world's, as for SPO and D3PO: a learning-rate grid reaches Diffusion-DPO too.
      const s = settingsOf(row);
      // One optimiser step per train batch of pairs, as SPO's update makes.
      rounds = pairs.length === 0 ? 0 : Math.ceil(pairs.length / s.trainBatchSize);
      if (rounds > 0) await trainDiffusionDpo({
        pipeline, pairs, steps: rounds, batchSize: s.trainBatchSize, learningRate: s.learningRate,
        loraRank: s.loraRank, loraAlpha: s.loraAlpha, seed,
      }, { signal: options?.signal });
    }
    const judged = row.method === 'base' ? base : await sampleAndJudge(pipeline, base.prompts, {
      seed: o.evalSeed, steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale,
    }, { signal: options?.signal });
    return {
      row, seed, budget: o.budget, testPrompts: base.prompts.length, rounds, images, seconds: (performance.now() - started) / 1000,
      total: partInterval(judged.scores, 'total'), alignment: partInterval(judged.scores, 'alignment'),
      quality: partInterval(judged.scores, 'quality'), gain: pairedDifference(base.scores, judged.scores, 'total'),
    };
  } finally {
    pipeline.dispose();
  }
}

/** The base model's judged test set (computed once, shared by every row). */
export async function judgeBase(o: ExperimentOptions, options?: JobOptions): Promise<JudgedSet> {
  const pipeline = await Pipeline.load(path.join(o.assets, 'base'), { signal: options?.signal });
  try {
    return await sampleAndJudge(pipeline, worldPrompts('test').slice(0, o.testPrompts), {
      seed: o.evalSeed, steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale,
    }, options);
  } finally {
    pipeline.dispose();
  }
}

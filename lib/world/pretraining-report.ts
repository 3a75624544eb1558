// What `pretrainWorld` reports, typed: each finished stage's figures as the
// engine records them (native/core/pretraining/world_pretraining.cpp), in
// camelCase with the timestep-keyed accuracies as arrays. report.json in the
// models folder keeps the engine's own form (stage names as keys, such as
// "evaluator-step-aware"); readWorldPretrainingReport reads it into this one.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../runtime/errors';
import type { JudgePartOf, WorldTrack } from './tracks';

/** A training stage's loss curve in brief (the final loss is the mean of the last 50 steps). */
export interface TrainingStageFigures {
  steps: number;
  seconds: number;
  firstLoss: number;
  finalLoss: number;
}

export interface VaeStageFigures extends TrainingStageFigures {
  /** The latents' standard deviation before scaling, and the scaling factor written to the VAE's config (1 / std). */
  latentStd: number;
  scalingFactor: number;
  reconstructionMse: number;
}

export interface ClipStageFigures extends TrainingStageFigures {
  /** Share of validation prompts whose image ranks its own caption first among 64. */
  retrievalAccuracy64: number;
  /** Share of training captions that name the image's defects (scenes), when recorded. */
  captionShare?: number;
}

export interface BaseSamplesFigures {
  prompts: number;
  /** The mean of each judge part over the base model's samples. */
  judge: Partial<Record<JudgePartOf<WorldTrack>, number>>;
}

/** The judge-labelled pairs the evaluators train on (fields recorded by newer folders are optional). */
export interface PairsStageFigures {
  train: number;
  validation: number;
  trainTies: number;
  validationTies?: number;
  tiesKept?: boolean;
  tieMargin: number;
  trainPrompts?: number;
  validationPrompts?: number;
  samplesPerPrompt?: number;
  samplingSteps?: number;
  seconds?: number;
}

/** Pair accuracy at each timestep (parallel arrays, ascending t), as Evaluator.validate reports it. */
export interface PairAccuracy {
  pairs: number;
  timesteps: number[];
  accuracy: number[];
}

/** Accuracy on the validation pairs whose own timestep falls in [lo, hi], before and after training. */
export interface AccuracyBand {
  lo: number;
  hi: number;
  before: PairAccuracy;
  after: PairAccuracy;
}

export interface EvaluatorStageFigures {
  steps: number;
  /** Trained on clean images (t = 0) only. */
  clean: boolean;
  before: PairAccuracy;
  /** After training, when a validation ran. */
  after?: PairAccuracy;
  finalLoss: number;
  learningRate?: number;
  trainPairs?: number;
  /** The folder it started from (clip, evaluator-plain, evaluator-step-aware); absent in records older than the field. */
  from?: string;
  seconds?: number;
  /** Pairs at their own timesteps (the rollout evaluator): accuracy per band of t. */
  bands?: AccuracyBand[];
}

/** How often the judge reading a candidate's x0 agrees with where it ends, per band of t (null: no decided pair). */
export interface JudgeReadsX0Band {
  lo: number;
  hi: number;
  pairs: number;
  accuracy: number | null;
}

export interface RolloutPairsFigures {
  train: number;
  trainTies: number;
  validation: number;
  validationTies: number;
  groups: number;
  tieMargin: number;
  k: number;
  steps: number;
  judgeReadsX0: JudgeReadsX0Band[];
  /** Wall-clock of the stage (absent in records made before it was kept, as the shipped scenes one). */
  seconds?: number;
}

/** Every finished stage's figures; a stage not run (or not finished) is absent. */
export interface WorldPretrainingReport {
  seed: number;
  scale: number;
  vae?: VaeStageFigures;
  diffusion?: TrainingStageFigures;
  baseSamples?: BaseSamplesFigures;
  pairs?: PairsStageFigures;
  clip?: ClipStageFigures;
  evaluatorPlain?: EvaluatorStageFigures;
  evaluatorStepAware?: EvaluatorStageFigures;
  evaluatorStepAgnostic?: EvaluatorStageFigures;
  rolloutPairs?: RolloutPairsFigures;
  evaluatorRollout?: EvaluatorStageFigures;
  /** Table 4's step-agnostic twin of evaluatorRollout: the same start, pairs, steps and rate, t not seen. */
  evaluatorRolloutAgnostic?: EvaluatorStageFigures;
}

type Raw = Record<string, unknown>;
const object = (v: unknown, what: string): Raw => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(`pretraining report: ${what} is not an object`);
  return v as Raw;
};

/** { "0": a, "251": b } -> timesteps [0, 251], accuracy [a, b]. */
function pairAccuracy(v: unknown, what: string): PairAccuracy {
  const o = object(v, what);
  const byT = Object.entries(object(o.accuracy ?? {}, `${what}.accuracy`)).map(([t, a]) => [Number(t), a as number] as const)
    .sort((x, y) => x[0] - y[0]);
  return { pairs: o.pairs as number, timesteps: byT.map(([t]) => t), accuracy: byT.map(([, a]) => a) };
}

/** "t300-599" -> [300, 599]. */
function bandBounds(key: string): { lo: number; hi: number } {
  const m = /^t(\d+)-(\d+)$/.exec(key);
  if (!m) throw new InvalidArgumentError(`pretraining report: band '${key}' is not t<lo>-<hi>`);
  return { lo: Number(m[1]), hi: Number(m[2]) };
}

function evaluatorStage(v: unknown, what: string): EvaluatorStageFigures {
  const { before, after, bands, ...rest } = object(v, what);
  const out = { ...rest, before: pairAccuracy(before, `${what}.before`) } as unknown as EvaluatorStageFigures;
  if (after !== undefined) out.after = pairAccuracy(after, `${what}.after`);
  if (bands !== undefined) {
    out.bands = Object.entries(object(bands, `${what}.bands`)).map(([key, b]) => {
      const band = object(b, `${what}.bands.${key}`);
      return { ...bandBounds(key), before: pairAccuracy(band.before, `${key}.before`), after: pairAccuracy(band.after, `${key}.after`) };
    }).sort((a, b) => a.lo - b.lo);
  }
  return out;
}

/** The engine's report (report.json's form) as a WorldPretrainingReport. */
export function toWorldPretrainingReport(raw: unknown): WorldPretrainingReport {
  const r = object(raw, 'the report');
  const out: WorldPretrainingReport = { seed: r.seed as number, scale: r.scale as number };
  if (r.vae !== undefined) out.vae = object(r.vae, 'vae') as unknown as VaeStageFigures;
  if (r.diffusion !== undefined) out.diffusion = object(r.diffusion, 'diffusion') as unknown as TrainingStageFigures;
  if (r['base-samples'] !== undefined) out.baseSamples = object(r['base-samples'], 'base-samples') as unknown as BaseSamplesFigures;
  if (r.pairs !== undefined) out.pairs = object(r.pairs, 'pairs') as unknown as PairsStageFigures;
  if (r.clip !== undefined) {
    const { 'retrievalAccuracy@64': retrieval, ...rest } = object(r.clip, 'clip');
    out.clip = { ...rest, retrievalAccuracy64: retrieval } as unknown as ClipStageFigures;
  }
  for (const [key, name] of [['evaluator-plain', 'evaluatorPlain'], ['evaluator-step-aware', 'evaluatorStepAware'],
    ['evaluator-step-agnostic', 'evaluatorStepAgnostic'], ['evaluator-rollout', 'evaluatorRollout'],
    ['evaluator-rollout-agnostic', 'evaluatorRolloutAgnostic']] as const) {
    if (r[key] !== undefined) out[name] = evaluatorStage(r[key], key);
  }
  if (r['rollout-pairs'] !== undefined) {
    const { judgeReadsX0, ...rest } = object(r['rollout-pairs'], 'rollout-pairs');
    const bands = Object.entries(object(judgeReadsX0 ?? {}, 'rollout-pairs.judgeReadsX0')).map(([key, b]) => {
      const band = object(b, `judgeReadsX0.${key}`);
      return { ...bandBounds(key), pairs: band.pairs as number, accuracy: (band.accuracy ?? null) as number | null };
    }).sort((a, b) => a.lo - b.lo);
    out.rolloutPairs = { ...rest, judgeReadsX0: bands } as unknown as RolloutPairsFigures;
  }
  return out;
}

/** The report.json of a models folder made by pretrainWorld, typed. */
export function readWorldPretrainingReport(outDir: string): WorldPretrainingReport {
  return toWorldPretrainingReport(JSON.parse(readFileSync(path.join(outDir, 'report.json'), 'utf8')));
}

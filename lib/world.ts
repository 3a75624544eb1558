// The shapes world (docs/SHAPES_WORLD.md): the package's built-in miniature
// text-to-image problem. Its fixed prompt splits, renderer and judge, and the
// pretraining of its tiny models, all computed by the engine.
import path from 'node:path';
import { InvalidArgumentError, captureCallSite } from './errors';
import { callSync, runJob, type JobOptions } from './jobs';
import { native } from './native';
import type { NativeJudgeScore } from './native-types';
import type { Tensor } from './tensor';

export type WorldSplit = 'train' | 'validation' | 'test';

/** The judge's parts (each in [0, 1]); total = 0.7 alignment + 0.3 quality. */
export type JudgeScore = NativeJudgeScore;

function checkSplit(split: WorldSplit): void {
  if (split !== 'train' && split !== 'validation' && split !== 'test') {
    throw new InvalidArgumentError(`split must be 'train', 'validation' or 'test', not ${String(split)}`);
  }
}

/** Every prompt of a split, in the grammar's fixed order (test: 500, validation: 500, train: 36,056). */
export function worldPrompts(split: WorldSplit): string[] {
  checkSplit(split);
  return callSync(() => native().worldPrompts(split));
}

/** The split a grammar prompt belongs to. */
export function worldSplitOf(prompt: string): WorldSplit {
  return callSync(() => native().worldSplitOf(prompt)) as WorldSplit;
}

/** A correct image of a prompt: [3, size, size] in [-1, 1], the same for the same seed. */
export function renderWorld(prompt: string, size = 32, seed = 0): Tensor {
  return callSync(() => native().renderWorld(prompt, size, seed));
}

/** The judge's scores of images [B, 3, H, W] (or one [3, H, W]) against their prompts. */
export function judgeWorld(images: Tensor, prompts: string[]): JudgeScore[] {
  if (!Array.isArray(prompts)) throw new InvalidArgumentError('prompts must be an array of strings');
  return callSync(() => native().judgeWorld(images, prompts));
}

export interface WorldPretrainingOptions {
  /** Where the models go: base/ (a diffusers pipeline), evaluator-{plain,step-aware,step-agnostic}/, report.json. */
  outDir: string;
  seed?: number;
  /**
   * The base model's parametrisation, fixed when outDir is first made: 'epsilon'
   * (SD-1.5; the shipped models) or 'v_prediction' (SD-2.x), whose loss at high
   * noise rewards taking the layout from the prompt (docs/SHAPES_WORLD.md item 6).
   */
  prediction?: 'epsilon' | 'v_prediction';
  /**
   * Which world, fixed when outDir is first made: 'relations' (positions and
   * relations, clean renders; the shipped models) or 'scenes' (world v2: one to
   * three objects, training renders with coarse and fine defects, judge v2).
   */
  world?: 'relations' | 'scenes';
  /** Multiplies every stage's steps and sample counts (1 = the shipped models; tests use ~0.01). */
  scale?: number;
  vaeSteps?: number;
  diffusionSteps?: number;
  pairPrompts?: number;
  clipSteps?: number;
  plainSteps?: number;
  noisySteps?: number;
  samplingSteps?: number;
  /** Validation prompts sampled twice and judged (at most 500, the whole split). */
  validationPrompts?: number;
  /** Judge totals closer than this make a tied pair (0 to 1). */
  tieMargin?: number;
  plainLearningRate?: number;
  noisyLearningRate?: number;
  /**
   * Train prompts whose SPO sampling rounds make rollout pairs (k candidates from
   * one x_t, labelled by the judge on where each ends); > 0 adds the stages
   * rollout-pairs and evaluator-rollout (the step-aware model trained on them).
   */
  rolloutPrompts?: number;
  /** Validation prompts for the rollout pairs (at most 500). */
  rolloutValidationPrompts?: number;
  rolloutSteps?: number;
  rolloutLearningRate?: number;
}

/**
 * Trains every tiny model of the shapes world from scratch (VAE, text encoder +
 * UNet, judge-labelled pairs, contrastive CLIP, plain / step-aware /
 * step-agnostic evaluators). A stage already finished in `outDir` is skipped.
 * Progress stages: vae, diffusion, sample, clip, train, validate.
 */
export async function pretrainWorld(options: WorldPretrainingOptions, jobOptions?: JobOptions): Promise<Record<string, unknown>> {
  const site = captureCallSite(pretrainWorld);
  if (typeof options !== 'object' || options === null || typeof options.outDir !== 'string' || options.outDir === '') {
    throw new InvalidArgumentError('pretrainWorld needs options.outDir');
  }
  const args = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return runJob(site, jobOptions, (token, progress) => native().pretrainWorld(args, token, progress));
}

/** The shipped models' folder: <package>/assets/shapes-world (made by `spo pretrain-world`). */
export function shapesWorldAssets(): string {
  return path.resolve(__dirname, '..', 'assets', 'shapes-world');
}

/**
 * SPO settings for the shapes world's tiny models (over the sd15 preset):
 * the paper's method and schedule, with a learning rate for a LoRA on a
 * 32-channel UNet (SD-1.5's 6e-5 is for 320 channels) and rounds sized for a CPU.
 */
/** Judge totals closer than this make a tied pair (pretraining's pairs and Diffusion-DPO's alike). */
export const JUDGE_TIE_MARGIN = 0.02;

export const SHAPES_WORLD_SPO = {
  steps: 20,
  guidanceScale: 5,
  k: 4,
  divertStartStep: 4,
  learningRate: 1e-3,
  loraRank: 8,
  loraAlpha: 8,
  sampleBatchSize: 8,
  trainBatchSize: 16,
} as const;

/**
 * The world's judge used as SPO's step evaluator (pass it as a Trainer's
 * `evaluator`): an oracle that scores each candidate's decoded x0 prediction
 * by `scale` x the judge's total, at every timestep. It shows what SPO could
 * reach with an evaluator that agreed with the judge; `spo experiment`'s
 * "oracle" row.
 */
export class WorldJudgeScorer {
  readonly scale: number;
  /**
   * Judge where each candidate leads instead of its x0 prediction: the
   * candidate is continued to t = 0 by deterministic DDIM under the current
   * model and the final image is judged (about 8x the sampling cost at the
   * preset). This is the signal the step-aware evaluator is meant to learn.
   */
  readonly rollout: boolean;
  constructor(scale = 10, options: { rollout?: boolean } = {}) {
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
      throw new InvalidArgumentError('WorldJudgeScorer: scale must be a finite number > 0');
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('WorldJudgeScorer: options must be an object');
    if (options.rollout !== undefined && typeof options.rollout !== 'boolean') {
      throw new InvalidArgumentError('WorldJudgeScorer: rollout must be a boolean');
    }
    this.scale = scale;
    this.rollout = options.rollout ?? false;
  }
}

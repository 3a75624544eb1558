// The shapes world itself (docs/SHAPES_WORLD.md), either track (./tracks.ts):
// its fixed prompt splits, renderer and judge, the shipped models' folder and
// the SPO settings for its tiny models, all computed by the engine.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError } from '../runtime/errors';
import { callSync } from '../runtime/jobs';
import { packageRoot } from '../native/native';
import type { Tensor } from '../runtime/tensor';
import { worldNative } from './native-world';
import { WORLD_DEFECTS, checkTrack, type WorldDefect, type WorldJudgeScore, type WorldTrack } from './tracks';

export type WorldSplit = 'train' | 'validation' | 'test';

function checkSplit(split: WorldSplit): void {
  if (split !== 'train' && split !== 'validation' && split !== 'test') {
    throw new InvalidArgumentError(`split must be 'train', 'validation' or 'test', not ${String(split)}`);
  }
}

/**
 * Every prompt of a split, in the grammar's fixed order. relations: test 500,
 * validation 500, train 36,056; scenes: test 500, validation 500, train the
 * remaining 155,848.
 */
export function worldPrompts(split: WorldSplit, track: WorldTrack = 'relations'): string[] {
  checkSplit(split);
  return callSync(() => worldNative().worldPrompts(split, checkTrack(track)));
}

/** The split a prompt of the track's grammar belongs to. */
export function worldSplitOf(prompt: string, track: WorldTrack = 'relations'): WorldSplit {
  return callSync(() => worldNative().worldSplitOf(prompt, checkTrack(track))) as WorldSplit;
}

export interface RenderWorldOptions {
  /** Which track's grammar and renderer (default 'relations'). */
  track?: WorldTrack;
  /** scenes only: render with these defects (each applied where it applies); unset: the clean render. */
  defects?: readonly WorldDefect[];
}

/**
 * A correct image of a prompt, [3, size, size] in [-1, 1], the same for the
 * same seed; for the scenes track with `defects`, the same render carrying
 * those defects (the layout and colours drawn from the same seed).
 */
export function renderWorld(prompt: string, size = 32, seed = 0, options: RenderWorldOptions = {}): Tensor {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('renderWorld: options must be an object');
  const track = checkTrack(options.track);
  const { defects } = options;
  if (defects !== undefined) {
    if (!Array.isArray(defects)) throw new InvalidArgumentError('renderWorld: defects must be an array of defect names');
    for (const d of defects) {
      if (!(WORLD_DEFECTS as readonly string[]).includes(d)) {
        throw new InvalidArgumentError(`renderWorld: no defect '${String(d)}' (the defects are ${WORLD_DEFECTS.join(', ')})`);
      }
    }
    if (track !== 'scenes') throw new InvalidArgumentError('renderWorld: defects are drawn in the scenes world only');
    return callSync(() => worldNative().renderWorld(prompt, size, seed, track, [...defects]));
  }
  return callSync(() => worldNative().renderWorld(prompt, size, seed, track));
}

/**
 * The track's judge of images [B, 3, H, W] (or one [3, H, W]) against their
 * prompts: relations, the relation judge's parts and blob count; scenes,
 * judge v2's parts and sub-scores (JUDGE_PARTS.scenes).
 */
export function judgeWorld(images: Tensor, prompts: string[]): WorldJudgeScore<'relations'>[];
export function judgeWorld<T extends WorldTrack>(images: Tensor, prompts: string[], track: T): WorldJudgeScore<T>[];
export function judgeWorld(images: Tensor, prompts: string[], track: WorldTrack = 'relations'): WorldJudgeScore[] {
  if (!Array.isArray(prompts)) throw new InvalidArgumentError('prompts must be an array of strings');
  const checked = checkTrack(track);
  return callSync(() => worldNative().judgeWorld(images, prompts, checked));
}

/**
 * The shipped models' folder of a track (made by `spo pretrain-world`):
 * relations, <package>/assets/shapes-world; scenes, <package>/assets/scenes-world.
 */
export function shapesWorldAssets(track: WorldTrack = 'relations'): string {
  return path.join(packageRoot, 'assets', checkTrack(track) === 'scenes' ? 'scenes-world' : 'shapes-world');
}

/**
 * The step-aware evaluator a models folder trains SPO with: evaluator-rollout
 * (the step-aware model trained on SPO's own sibling pairs, which the scenes
 * world ships) where the folder has one, else evaluator-step-aware.
 */
export function stepAwareEvaluatorFolder(assets: string): string {
  return firstModelFolder(assets, ['evaluator-rollout', 'evaluator-step-aware']);
}

/**
 * Its step-agnostic twin (Table 4): evaluator-rollout-agnostic (the same start,
 * rollout pairs, steps and rate as evaluator-rollout, t never seen) where the
 * folder has one, else evaluator-step-agnostic.
 */
export function stepAgnosticEvaluatorFolder(assets: string): string {
  return firstModelFolder(assets, ['evaluator-rollout-agnostic', 'evaluator-step-agnostic']);
}

/** The first of `names` under `assets` holding a model, else the last (whose absence the loader then reports). */
function firstModelFolder(assets: string, names: [string, ...string[]]): string {
  const found = names.find((name) => existsSync(path.join(assets, name, 'model.safetensors')));
  return path.join(assets, found ?? names[names.length - 1]!);
}

/** Judge totals closer than this make a tied pair (pretraining's pairs and Diffusion-DPO's alike). */
export const JUDGE_TIE_MARGIN = 0.02;

/**
 * SPO settings for the shapes world's tiny models (over the sd15 preset):
 * the paper's method and schedule, with a learning rate for a LoRA on a
 * 32-channel UNet (SD-1.5's 6e-5 is for 320 channels) and rounds sized for a CPU.
 */
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
 * The SPO settings each track's demo runs with: SHAPES_WORLD_SPO, and for the
 * scenes track a learning rate of 3e-4 (chosen on the validation split: the
 * preset's 1e-3 gave +0.001 ± 0.017 on the total, 3e-4 +0.006 to +0.017 over
 * three seeds; docs/SHAPES_WORLD.md).
 */
export const WORLD_SPO = {
  relations: SHAPES_WORLD_SPO,
  scenes: { ...SHAPES_WORLD_SPO, learningRate: 3e-4 },
} as const satisfies { [T in WorldTrack]: { learningRate: number } };

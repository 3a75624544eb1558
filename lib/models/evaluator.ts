// The step-aware preference model (docs/method.md §4): a CLIP model
// initialised from PickScore whose vision tower is conditioned on the
// diffusion timestep. It scores images (or noisy latents, through the base
// model's x0 prediction) against prompts, decides SPO's pairs, and learns from
// preference pairs. All the work runs in the native engine.
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { Image, imagesToTensor } from '../runtime/image';
import { callSync, runJob, type JobOptions } from '../runtime/jobs';
import { NativeHandle } from './model-handle';
import { native } from '../native/native';
import type { NativeEvaluator, NativeEvaluatorInfo, NativeStepScorer, NativeValidationReport } from '../native/native-types';
import { withoutUndefined } from '../native/native-args';
import { toNativePairs } from '../native/native-pairs';
import type { PreferencePair } from '../training/pairs';
import { Pipeline } from './pipeline';
import { StepScorer } from '../training/step-scorer';
import type { DistributedOptions } from '../training/trainer';
import type { Tensor } from '../runtime/tensor';
import type { Device, DType } from '../runtime/device';

export type TimeConditioning = 'plain' | 'step-aware' | 'step-agnostic';
/** 'pixel': the CLIP model on decoded x0 predictions; 'latent-step-aware': a network on the latents x_t. */
export type EvaluatorKind = 'pixel' | 'latent-step-aware';
export type EvaluatorInfo = NativeEvaluatorInfo & {
  kind: EvaluatorKind;
  /** Latent kind only: the network's size (see docs/evaluator.md, "Latent evaluator"). */
  latentChannels?: number;
  width?: number;
  blocks?: number;
};

/** A fresh latent evaluator's network (Evaluator.createLatent). */
export interface LatentEvaluatorCreateOptions extends JobOptions {
  /** Channels of the base model's latents (default 4). */
  latentChannels?: number;
  /** Channels of every block (default 64; a multiple of `groups`). */
  width?: number;
  /** Residual blocks (default 4), a 2x pool after every `blocksPerLevel` (default 2). */
  blocks?: number;
  blocksPerLevel?: number;
  /** GroupNorm groups (default 8). */
  groups?: number;
  /** Seed of the initialisation (default 42). */
  seed?: number | bigint;
  device?: Device;
}
export type ValidationReport = NativeValidationReport;

export interface EvaluatorLoadOptions extends JobOptions {
  device?: Device;
  dtype?: DType;
  /**
   * Unset: as the directory says (config's spo_time_conditioning, else step-aware when the
   * weights hold adaLN layers, else plain). 'step-aware' or 'step-agnostic' over plain
   * PickScore weights adds adaLN layers initialised so the model equals PickScore at every t.
   */
  timeConditioning?: TimeConditioning;
  /** Seed of the time MLP's N(0, 0.02) initialisation in that case (default 42). */
  initSeed?: number | bigint;
}

export interface ScoreRequest {
  /** Images to score: Image objects, or an image tensor [B, 3, H, W] in [-1, 1]. */
  images?: Image[] | Tensor;
  /**
   * Or noisy latents x_t [B, C, h, w], scored through `pipeline`'s guided x0 prediction and VAE (SPO's path);
   * a latent evaluator scores them as they are (no pipeline needed).
   */
  latents?: Tensor;
  /** The base model for `latents` (pixel evaluators). */
  pipeline?: Pipeline;
  /** One prompt per image. */
  prompts: string[];
  /** The timestep each image is judged at: one number for all, or one per image (default 0). */
  timesteps?: number | number[];
  /** Classifier-free guidance of the x0 prediction (latents only; default 5). */
  guidanceScale?: number;
  /** The latents are clean (x0): decode them without the UNet (SPO's last step). */
  clean?: boolean;
  /** At most this many images per model call (default 0: no limit). */
  maxBatch?: number;
}

export interface PairDecision {
  winner: number;
  loser: number;
  /** softmax([s_w, s_l])[0] - softmax([s_w, s_l])[1]. */
  margin: number;
  /** margin > threshold; otherwise the pair is a tie and trains nothing. */
  kept: boolean;
}

export interface EvaluatorTrainRequest {
  /** The frozen base model whose x0 predictions the evaluator learns to judge. */
  pipeline: Pipeline;
  train: PreferencePair[];
  /** Held-out pairs for the accuracy report at validationTimesteps. */
  validation?: PreferencePair[];
  /** Optimiser steps (default 8000). */
  steps?: number;
  /** Pairs per step (default 16). */
  batchSize?: number;
  /** AdamW (default 3e-6, SD-1.5's recipe; SDXL's is 1e-6). */
  learningRate?: number;
  weightDecay?: number;
  /** Linear warm-up steps, then linear decay to 0 (default 500). */
  warmupSteps?: number;
  /** Gradient-norm clipping (default 1; 0 turns it off). */
  maxGradNorm?: number;
  guidanceScale?: number;
  seed?: number | bigint;
  validationTimesteps?: number[];
  /** Validate every n steps (default 0: after the last step only). */
  validateEvery?: number;
  /** Checkpoints (model, optimizer, step) go here, written so a crash never leaves a broken one. */
  checkpointDir?: string;
  checkpointEvery?: number;
  /** Continue from checkpointDir's latest checkpoint (default true). */
  resume?: boolean;
  maxBatch?: number;
  /**
   * Join a data-parallel run (the same options as the Trainer's; a world size of 1 trains as
   * without). Each step's global batch is batchSize x worldSize pairs, drawn on every rank as one
   * process with that batch would draw them; each rank scores its slice and the gradients are
   * averaged, so W ranks take the steps of one process with batchSize x W. Rank 0 alone
   * validates, writes checkpoints and reports progress; every rank resumes from checkpointDir
   * (a shared directory).
   */
  distributed?: DistributedOptions;
}

export interface EvaluatorTrainResult {
  /** Where this call started (> 0 when it resumed). */
  startStep: number;
  stepsDone: number;
  /** The loss of every step this call ran. */
  losses: number[];
  validations: ValidationReport[];
  /** Checkpoint directories written (rank 0 only). */
  checkpoints: string[];
  /** This process's rank and the number of ranks (0 and 1 without `distributed`). */
  rank: number;
  worldSize: number;
}

function checkObject(value: unknown, what: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`${what} must be an object`);
}

/** The step-aware preference model: SPO's step scorer, loaded from a CLIPModel directory. */
export class Evaluator extends StepScorer {
  // A StepScorer already, so it holds the handle plumbing rather than extending Handle.
  readonly #native: NativeHandle<NativeEvaluator>;
  readonly #kind: EvaluatorKind;

  private constructor(handle: NativeEvaluator, kind: EvaluatorKind) {
    super();
    this.#native = new NativeHandle(handle, 'Evaluator');
    this.#kind = kind;
  }

  /**
   * Loads a CLIPModel directory (PickScore layout: config.json, model.safetensors, vocab.json, merges.txt),
   * or a latent evaluator folder (config.json's spo_evaluator_kind "latent-step-aware"; device option only).
   */
  static async load(dir: string, options: EvaluatorLoadOptions = {}): Promise<Evaluator> {
    const site = captureCallSite(Evaluator.load);
    checkObject(options, 'options');
    const { signal, onProgress, ...rest } = options;
    const latent = typeof dir === 'string' && callSync(() => native().isLatentEvaluatorFolder(dir));
    const handle = await runJob(site, { signal, onProgress }, (token, progress) => latent
      ? native().loadLatentEvaluator(dir, rest, token, progress)
      : native().loadEvaluator(dir, rest, token, progress));
    return new Evaluator(handle, latent ? 'latent-step-aware' : 'pixel');
  }

  /**
   * A fresh latent evaluator (docs/evaluator.md, "Latent evaluator"): a small network that scores
   * latents x_t at t, over the frozen text tower of the pixel evaluator in `textFrom`. Train it with
   * `train` on the same pairs as the pixel model, then `save`; `Evaluator.load` reads the folder back.
   */
  static async createLatent(textFrom: string, options: LatentEvaluatorCreateOptions = {}): Promise<Evaluator> {
    const site = captureCallSite(Evaluator.createLatent);
    checkObject(options, 'options');
    const { signal, onProgress, ...rest } = options;
    const handle = await runJob(site, { signal, onProgress },
      (token, progress) => native().createLatentEvaluator(textFrom, withoutUndefined(rest), token, progress));
    return new Evaluator(handle, 'latent-step-aware');
  }

  /** 'pixel' (the CLIP model on decoded images) or 'latent-step-aware' (a network on latents). */
  get kind(): EvaluatorKind {
    return this.#kind;
  }

  /**
   * SPO's pair rule (docs/method.md §2) over k candidate scores: the best against the worst,
   * kept when the softmax difference exceeds `threshold` (0.3 for SD-1.5, 0.4 for SDXL).
   */
  static compare(scores: ArrayLike<number>, threshold: number): PairDecision {
    if (scores === null || typeof scores !== 'object' || typeof scores.length !== 'number') {
      throw new InvalidArgumentError('scores must be an array of numbers');
    }
    return callSync(() => native().comparePairScores(Array.from(scores), threshold));
  }

  get info(): EvaluatorInfo {
    return { kind: this.#kind, ...callSync(() => this.#handle().info) };
  }

  /** Scores s = exp(logit_scale) * cos(image, text) (about 100 x cos), one per image. */
  async score(request: ScoreRequest, options?: JobOptions): Promise<Float32Array> {
    const site = captureCallSite(this.score);
    checkObject(request, 'the score request');
    const { images, latents, pipeline, prompts, timesteps = 0, guidanceScale, clean, maxBatch } = request;
    if ((images === undefined) === (latents === undefined)) {
      throw new InvalidArgumentError('give exactly one of images and latents');
    }
    let out: Tensor;
    if (latents !== undefined && this.#kind === 'latent-step-aware') {
      // The latents are judged as they are: no x0 prediction, no decode (the native side refuses guidanceScale).
      const args = withoutUndefined({ latents, prompts, timesteps, guidanceScale, maxBatch });
      out = await runJob(site, options, (token, progress) => this.#handle().scoreLatents(args as never, token, progress));
    } else if (latents !== undefined) {
      if (!(pipeline instanceof Pipeline)) throw new InvalidArgumentError('scoring latents needs the base model: pipeline');
      const args = { pipeline: pipeline.nativeHandle(), latents, prompts, timesteps, guidanceScale, clean, maxBatch };
      out = await runJob(site, options, (token, progress) => this.#handle().scoreLatents(withoutUndefined(args), token, progress));
    } else {
      if (clean !== undefined || guidanceScale !== undefined || pipeline !== undefined) {
        throw new InvalidArgumentError('pipeline, guidanceScale and clean apply to latents only');
      }
      const tensor = Array.isArray(images) ? imagesToTensor(images) : images!;
      const args = withoutUndefined({ images: tensor, prompts, timesteps, maxBatch });
      out = await runJob(site, options, (token, progress) => this.#handle().scoreImages(args, token, progress));
    }
    return out.data;
  }

  /** Pair accuracy at each timestep on held-out pairs (same noise for both images of a pair). */
  async validate(request: { pipeline: Pipeline; pairs: PreferencePair[]; timesteps?: number[]; guidanceScale?: number;
                            seed?: number | bigint; maxBatch?: number }, options?: JobOptions): Promise<ValidationReport> {
    const site = captureCallSite(this.validate);
    checkObject(request, 'the validate request');
    if (!(request.pipeline instanceof Pipeline)) throw new InvalidArgumentError('validate needs the base model: pipeline');
    const args = withoutUndefined({ ...request, pipeline: request.pipeline.nativeHandle(), pairs: toNativePairs(request.pairs, 'pairs') });
    return runJob(site, options, (token, progress) => this.#handle().validate(args, token, progress));
  }

  /**
   * Trains on preference pairs by docs/method.md §4's recipe. Progress: stage "train" per step
   * (metrics loss, lr, gradNorm), "validate" (metrics accuracy@t), "checkpoint". Aborting stops at
   * the next step and, with checkpointDir, leaves a checkpoint that a later call resumes exactly.
   */
  async train(request: EvaluatorTrainRequest, options?: JobOptions): Promise<EvaluatorTrainResult> {
    const site = captureCallSite(this.train);
    checkObject(request, 'the train request');
    if (!(request.pipeline instanceof Pipeline)) throw new InvalidArgumentError('train needs the base model: pipeline');
    const args = withoutUndefined({
      ...request,
      pipeline: request.pipeline.nativeHandle(),
      train: toNativePairs(request.train, 'train'),
      validation: request.validation === undefined ? undefined : toNativePairs(request.validation, 'validation'),
    });
    return runJob(site, options, (token, progress) => this.#handle().train(args, token, progress));
  }

  /** Writes config.json, model.safetensors and the tokenizer files: a directory Evaluator.load reads. */
  async save(dir: string, options?: JobOptions): Promise<void> {
    const site = captureCallSite(this.save);
    await runJob(site, options, (token, progress) => this.#handle().save(dir, token, progress));
  }

  /** Frees the model once no running job uses it. */
  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal The native handle, for the benchmark. */
  nativeHandle(): NativeEvaluator {
    return this.#handle();
  }

  /** @internal This model as a training run's step scorer (DisposedError after dispose()). */
  override nativeStepScorer(): NativeStepScorer {
    const handle = this.#handle();
    return callSync(() => handle.stepScorer());
  }

  #handle(): NativeEvaluator {
    return this.#native.get();
  }
}

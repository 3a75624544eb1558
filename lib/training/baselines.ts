// Baselines in the same engine, for side-by-side comparisons with SPO
// (docs/method.md §7). D3PO runs through Trainer with method: 'd3po';
// Diffusion-DPO learns from offline preference pairs and lives here.
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { runJob, type JobOptions } from '../runtime/jobs';
import { native } from '../native/native';
import type { NativeDiffusionDpoResult } from '../native/native-types';
import { withoutUndefined } from '../native/native-args';
import { toNativePairs } from '../native/native-pairs';
import type { PreferencePair } from './pairs';
import { Pipeline } from '../models/pipeline';

export interface DiffusionDpoRequest {
  pipeline: Pipeline;
  /** Offline pairs (ties are skipped). */
  pairs: PreferencePair[];
  /** Optimiser steps (default 1000). */
  steps?: number;
  /** Pairs per step (default 4). */
  batchSize?: number;
  /** Default 5000 (the SD-1.5 recipe uses 2000-5000). */
  beta?: number;
  /**
   * AdamW's learning rate (default 1e-5). Nothing in the engine fixes it: tune it on the
   * same grid as the other methods' (docs/method.md §7).
   */
  learningRate?: number;
  /** AdamW's weight decay (default 1e-4). */
  weightDecay?: number;
  /** Gradient-norm clipping (default 1; <= 0: off). */
  maxGradNorm?: number;
  /** The LoRA's rank and alpha (default 4 and 4). */
  loraRank?: number;
  loraAlpha?: number;
  seed?: number | bigint;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: boolean;
  /** Where the LoRA goes: <output>/pytorch_lora_weights.safetensors. */
  output?: string;
}

export type DiffusionDpoResult = NativeDiffusionDpoResult;

/**
 * Diffusion-DPO: winner and loser noised with the same t and noise; the LoRA policy's
 * denoising error against the LoRA-off reference's, through -log sigmoid(-beta/2 * ...).
 * Progress: stage "update" per step (metrics loss, implicitAccuracy, gradNorm), "checkpoint".
 */
export async function trainDiffusionDpo(request: DiffusionDpoRequest, options?: JobOptions): Promise<DiffusionDpoResult> {
  const site = captureCallSite(trainDiffusionDpo);
  if (typeof request !== 'object' || request === null) throw new InvalidArgumentError('the request must be an object');
  if (!(request.pipeline instanceof Pipeline)) throw new InvalidArgumentError('request.pipeline must be a loaded Pipeline');
  const { pipeline, pairs, output, ...rest } = request;
  const args = withoutUndefined({
    ...rest, pipeline: pipeline.nativeHandle(), pairs: toNativePairs(pairs, 'pairs'), outputDir: output,
  });
  return runJob(site, options, (token, progress) => native().trainDiffusionDpo(args, token, progress));
}

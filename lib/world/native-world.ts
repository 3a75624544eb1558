// The shapes world's part of the native addon, typed next to the world: the
// engine's typing (lib/native/native-types.ts) names no world type. The functions are
// exported by the same addon as the engine's; worldNative() is that addon seen
// with them.
import { native } from '../native/native';
import type { Job, NativeAddon, NativeStepScorer } from '../native/native-types';
import type { Tensor } from '../runtime/tensor';
import type { WorldPretrainingOptions } from './pretraining';

/** The shapes world's judge of one image (native/core/world/judge.h). */
export interface NativeJudgeScore {
  total: number;
  alignment: number;
  quality: number;
  colour: number;
  shape: number;
  count: number;
  place: number;
  background: number;
  edges: number;
  blobs: number;
}

/** World v2's judge of one image (native/core/world/v2_judge.h), its parts by name. */
export interface NativeScenesJudgeScore {
  total: number;
  alignment: number;
  coarse: number;
  fine: number;
  colour: number;
  shape: number;
  count: number;
  cast: number;
  saturation: number;
  frame: number;
  size: number;
  spacing: number;
  sharpness: number;
  smoothness: number;
  grain: number;
  texture: number;
}

export interface NativeWorldAddon {
  worldPrompts(split: string, track?: string): string[];
  worldSplitOf(prompt: string, track?: string): string;
  renderWorld(prompt: string, size: number, seed: number | bigint, track?: string, defects?: string[]): { data: Float32Array; shape: number[] };
  judgeWorld(images: Tensor, prompts: string[], track?: string): NativeJudgeScore[] | NativeScenesJudgeScore[];
  worldJudgeScorer(options: { scale: number; track?: string; rollout?: boolean }): NativeStepScorer;
  pretrainWorld(options: WorldPretrainingOptions, ...job: Job): Promise<unknown>;  // report.json's form: toWorldPretrainingReport types it
}

/** The addon with the world's functions (loaded once, as native() loads it). */
export function worldNative(): NativeAddon & NativeWorldAddon {
  return native() as NativeAddon & NativeWorldAddon;
}

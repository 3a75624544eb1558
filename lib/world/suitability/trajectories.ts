// The base model's sampling trajectories, held and branched through the public
// API (checks 3 and 4). A trajectory's state is x_t at step i of the schedule
// with the guided model output there; Sampler.candidates moves a state on (k = 1)
// or branches it (k candidates with the same DDIM mean and independent noise)
// and, with predictX0, hands back the guided output at the chain's end, so one
// guided UNet call per state is all the engine needs from us. The only output
// the engine cannot give is the one at x_T (nothing precedes it): guidedOutput
// computes it from the pipeline's own components, as the engine does
// (eps_u + w (eps_c - eps_u), the empty prompt unconditional).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { imagesToTensor } from '../../runtime/image';
import { Pipeline, Sampler } from '../../models/pipeline';
import { DDIMScheduler } from '../../models/scheduler';
import type { Tensor } from '../../runtime/tensor';
import { TextEncoder } from '../../models/text-encoder';
import { Tokenizer } from '../../models/tokenizer';
import { UNet } from '../../models/unet';
import type { ScenesJudgeScore } from '../tracks';
import { judgeWorld } from '../world';

/** The base pipeline with the parts that compute the guided output at x_T, and the schedule's timesteps. */
export interface BaseModel {
  pipeline: Pipeline;
  sampler: Sampler;
  unet: UNet;
  textEncoder: TextEncoder;
  tokenizer: Tokenizer;
  /** The `steps`-step schedule's timesteps, first (noisiest) to last. */
  timesteps: number[];
  steps: number;
  guidanceScale: number;
  /** [C, h, w] of one latent. */
  latentShape: number[];
  dispose(): void;
}

/** P trajectories at step `index` of the schedule: x_t and the guided output there. */
export interface TrajectoryState {
  prompts: string[];
  index: number;
  latents: Tensor;
  modelOutput: Tensor;
  predOriginal?: Tensor;
}

export async function openBase(assets: string, sampling: { steps: number; guidanceScale: number }): Promise<BaseModel> {
  const { steps, guidanceScale } = sampling;
  const base = path.join(assets, 'base');
  const pipeline = await Pipeline.load(base);
  const unet = await UNet.load(path.join(base, 'unet'));
  const textEncoder = await TextEncoder.load(path.join(base, 'text_encoder'));
  const tokenizer = await Tokenizer.load(path.join(base, 'tokenizer'));
  const schedulerConfig = JSON.parse(readFileSync(path.join(base, 'scheduler', 'scheduler_config.json'), 'utf8'));
  const scheduler = DDIMScheduler.fromDiffusersConfig(schedulerConfig);
  const timesteps = scheduler.setTimesteps(steps);
  scheduler.dispose();
  const info = pipeline.info;
  const side = info.defaultSize / info.vaeScaleFactor;
  return {
    pipeline, sampler: new Sampler(pipeline), unet, textEncoder, tokenizer, timesteps, steps, guidanceScale,
    latentShape: [info.latentChannels, side, side],
    dispose() {
      pipeline.dispose(); unet.dispose(); textEncoder.dispose(); tokenizer.dispose();
    },
  };
}

async function encode(model: BaseModel, texts: string[]): Promise<Tensor> {
  const ids = model.tokenizer.encodeBatch(texts, model.tokenizer.info.modelMaxLength);
  return (await model.textEncoder.forward(ids)).lastHiddenState;
}

/** The guided model output eps_u + w (eps_c - eps_u) at latents [P, C, h, w] and timestep t. */
export async function guidedOutput(model: BaseModel, latents: Tensor, t: number, prompts: string[]): Promise<Tensor> {
  const P = prompts.length;
  const cond = await encode(model, prompts);
  const uncond = await encode(model, prompts.map(() => ''));
  const both = await model.unet.forward({
    sample: concat([latents, latents]), timesteps: t, encoderHiddenStates: concat([uncond, cond]),
  });
  const n = both.data.length / 2, w = model.guidanceScale;
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) out[i] = both.data[i]! + w * (both.data[n + i]! - both.data[i]!);
  return { data: out, shape: [P, ...both.shape.slice(1)] };
}

/** x_T ~ N(0, I) for P prompts, from a seeded generator (splitmix64 + Box-Muller). */
export function gaussianLatents(P: number, shape: readonly number[], seed: number): Tensor {
  const n = P * shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = BigInt.asUintN(64, BigInt(seed) * 0x9E3779B97F4A7C15n + 1n);
  const next = () => {
    s = BigInt.asUintN(64, s + 0x9E3779B97F4A7C15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94D049BB133111EBn);
    z ^= z >> 31n;
    return (Number(z >> 11n) + 0.5) / 2 ** 53;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next())), a = 2 * Math.PI * next();
    data[i] = r * Math.cos(a);
    if (i + 1 < n) data[i + 1] = r * Math.sin(a);
  }
  return { data, shape: [P, ...shape] };
}

/** A trajectory per prompt at step 0: x_T and its guided output. */
export async function startStates(model: BaseModel, prompts: string[], seed: number): Promise<TrajectoryState> {
  const latents = gaussianLatents(prompts.length, model.latentShape, seed);
  return { prompts, index: 0, latents, modelOutput: await guidedOutput(model, latents, model.timesteps[0]!, prompts) };
}

/**
 * The states moved on to step `index` (> state.index, < steps) by the model's own
 * stochastic DDIM (eta 1), one trajectory per prompt; with the x0 prediction there.
 */
export async function advance(model: BaseModel, state: TrajectoryState, index: number, seed: number): Promise<TrajectoryState> {
  const r = await model.sampler.candidates({
    prompts: state.prompts, latents: state.latents, modelOutput: state.modelOutput, timestep: model.timesteps[state.index]!,
    steps: model.steps, k: 1, transitionsPerChain: index - state.index, guidanceScale: model.guidanceScale, eta: 1, seed,
    predictX0: true,
  });
  if (r.prevTimestep !== model.timesteps[index]) throw new Error(`advance: landed at t ${r.prevTimestep}, not ${model.timesteps[index]}`);
  return {
    prompts: state.prompts, index, latents: squeezeK(r.candidates), modelOutput: squeezeK(r.modelOutput!),
    predOriginal: squeezeK(r.predOriginal!),
  };
}

/**
 * From each state, k continuations to the end of the schedule (eta 1: the model's
 * own sampling; eta 0: deterministic DDIM, the rollout oracle's), decoded.
 * Returns images as the judge reads them (8-bit, [P * k, 3, H, W], prompt-major).
 */
export async function branchToEnd(model: BaseModel, state: TrajectoryState, k: number, seed: number, eta = 1): Promise<Tensor> {
  const r = await model.sampler.candidates({
    prompts: state.prompts, latents: state.latents, modelOutput: state.modelOutput, timestep: model.timesteps[state.index]!,
    steps: model.steps, k, transitionsPerChain: model.steps - state.index, guidanceScale: model.guidanceScale, eta, seed, decode: true,
  });
  return imagesToTensor(r.images!.flat());
}

/** Candidates' decoded x0 predictions and where each ends (checks 4's raw material). */
export interface RolledOutBranch {
  /** The candidates' timestep; negative at the last step, where the candidates are clean. */
  candidateT: number;
  x0Images: Tensor;
  finalImages: Tensor;
}

/**
 * SPO's branching step at state.index: k candidates (eta 1) with their decoded x0
 * predictions at the candidates' timestep, and where each ends when continued by
 * deterministic DDIM (the rollout oracle's outcome). At the last step the
 * candidates are clean and the two images coincide.
 */
export async function branchAndRollOut(model: BaseModel, state: TrajectoryState, k: number, seed: number): Promise<RolledOutBranch> {
  const r = await model.sampler.candidates({
    prompts: state.prompts, latents: state.latents, modelOutput: state.modelOutput, timestep: model.timesteps[state.index]!,
    steps: model.steps, k, transitionsPerChain: 1, guidanceScale: model.guidanceScale, eta: 1, seed, predictX0: true, decode: true,
  });
  const x0Images = imagesToTensor(r.images!.flat());
  if (r.prevTimestep < 0) return { candidateT: r.prevTimestep, x0Images, finalImages: x0Images };
  const prompts = state.prompts.flatMap((p) => Array<string>(k).fill(p));
  const rolled = await model.sampler.candidates({
    prompts, latents: flattenK(r.candidates), modelOutput: flattenK(r.modelOutput!), timestep: r.prevTimestep,
    steps: model.steps, k: 1, transitionsPerChain: model.steps - state.index - 1, guidanceScale: model.guidanceScale, eta: 0, seed,
    decode: true,
  });
  return { candidateT: r.prevTimestep, x0Images, finalImages: imagesToTensor(rolled.images!.flat()) };
}

/** Judge v2 of images [B, 3, H, W] against their prompts. */
export function judge(images: Tensor, prompts: string[]): ScenesJudgeScore[] {
  return judgeWorld(images, prompts, 'scenes');
}

function concat(tensors: readonly Tensor[]): Tensor {
  const data = new Float32Array(tensors.reduce((n, t) => n + t.data.length, 0));
  let at = 0;
  for (const t of tensors) { data.set(t.data, at); at += t.data.length; }
  return { data, shape: [tensors.reduce((n, t) => n + t.shape[0]!, 0), ...tensors[0]!.shape.slice(1)] };
}

// [P, 1, ...] -> [P, ...] and [P, k, ...] -> [P * k, ...]: the same row-major data.
const squeezeK = (t: Tensor): Tensor => ({ data: t.data, shape: [t.shape[0]!, ...t.shape.slice(2)] });
const flattenK = (t: Tensor): Tensor => ({ data: t.data, shape: [t.shape[0]! * t.shape[1]!, ...t.shape.slice(2)] });

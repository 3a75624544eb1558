// The native addon's surface, typed in one place. Only lib/ talks to it.
import type { GaussianSampleResult, StepOutput } from './scheduler';
import type { Tensor } from './tensor';
import type { TokenizerInfo } from './tokenizer';

export interface NativeProgress {
  stage: string;
  step: number;
  total: number;
  value: number;
  /** Named figures of the event (e.g. loss, lr, accuracy at a timestep), when the stage has any. */
  metrics?: Record<string, number>;
}
export type NativeProgressCallback = ((p: NativeProgress) => void) | undefined;

export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

export type NativeStepResult = StepOutput;

export type NativeGaussianSample = GaussianSampleResult;

export interface NativeScheduler {
  setTimesteps(steps: number): number[];
  readonly timesteps: number[];
  readonly numInferenceSteps: number;
  readonly config: Record<string, unknown>;
  alphasCumprod(): Float32Array;
  betas(): Float32Array;
  prevTimestep(t: number): number;
  step(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeStepResult>;
  addNoise(x0: Tensor, noise: Tensor, t: number | number[], token?: NativeCancelToken,
           onProgress?: NativeProgressCallback): Promise<Tensor>;
  getVelocity(x0: Tensor, noise: Tensor, t: number | number[], token?: NativeCancelToken,
              onProgress?: NativeProgressCallback): Promise<Tensor>;
  sampleGaussian(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeGaussianSample>;
  dispose(): void;
}

export interface NativeTokenizer {
  encode(text: string): number[];
  encodePadded(text: string, maxLength?: number): number[];
  encodeBatch(texts: string[], maxLength?: number): { data: Int32Array; shape: [number, number] };
  readonly info: TokenizerInfo;
  dispose(): void;
}

export interface NativeBuildInfo {
  torchVersion: string;
  cudaKernels: boolean;
  cudaAvailable: boolean;
  cudaDevices: number;
  intraOpThreads: number;
  jobThreads: number;
  napiVersion: number;
}

export interface NativeAddon {
  CancelToken: new () => NativeCancelToken;
  DDIMScheduler: new (config?: object) => NativeScheduler;
  loadTokenizer(dir: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeTokenizer>;
  buildInfo(): NativeBuildInfo;
  diagnostics: {
    steppedJob(steps: number, msPerStep: number, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<number>;
    failingJob(kind: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<void>;
    runningJobs(): number;
  };
}

// ---- Model handles (UNet, VAE, TextEncoder): see lib/models.ts ----

// Public shapes these return, declared in lib/models.ts (imported here to keep this section self-contained).
type UNetConfig = import('./models').UNetConfig;
type VAEConfig = import('./models').VAEConfig;
type LatentDistribution = import('./models').LatentDistribution;
type TextEncoderConfig = import('./models').TextEncoderConfig;
type TextEncoderOutput = import('./models').TextEncoderOutput;
type InputIds = import('./models').InputIds;

export interface NativeModelOptions {
  device?: 'cpu' | 'cuda';
  dtype?: 'fp32' | 'fp16' | 'bf16';
}

export interface NativeUNet {
  forward(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Tensor>;
  readonly config: UNetConfig;
  readonly options: Required<NativeModelOptions>;
  dispose(): void;
}

export interface NativeVAE {
  encode(images: Tensor, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<LatentDistribution>;
  decode(latents: Tensor, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Tensor>;
  decodeLatents(latents: Tensor, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Tensor>;
  readonly config: VAEConfig;
  readonly options: Required<NativeModelOptions>;
  dispose(): void;
}

export interface NativeTextEncoder {
  forward(inputIds: InputIds, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<TextEncoderOutput>;
  readonly config: TextEncoderConfig;
  readonly options: Required<NativeModelOptions>;
  dispose(): void;
}

// Merged into NativeAddon above: the model loaders.
export interface NativeAddon {
  loadUNet(dir: string, options: NativeModelOptions, token?: NativeCancelToken,
           onProgress?: NativeProgressCallback): Promise<NativeUNet>;
  loadVAE(dir: string, options: NativeModelOptions, token?: NativeCancelToken,
          onProgress?: NativeProgressCallback): Promise<NativeVAE>;
  loadTextEncoder(dir: string, options: NativeModelOptions, token?: NativeCancelToken,
                  onProgress?: NativeProgressCallback): Promise<NativeTextEncoder>;
}

// ---- Pipeline and Sampler: see lib/pipeline.ts ----

export interface NativePixels {
  data: Uint8Array;
  shape: number[];
}

export interface NativePipelineInfo {
  kind: 'sd15' | 'sdxl';
  device: 'cpu' | 'cuda';
  dtype: 'fp32' | 'fp16' | 'bf16';
  vaeScaleFactor: number;
  latentChannels: number;
  defaultSize: number;
}

export interface NativeGenerateResult {
  latents: Tensor;
  images?: Tensor;
  pixels?: NativePixels;
}

export interface NativeCandidatesResult {
  prevTimestep: number;
  candidates: Tensor;
  logProbs: Tensor;
  chainTimesteps: number[];
  chain: Tensor;
  chainLogProbs: Tensor;
  modelOutput?: Tensor;
  predOriginal?: Tensor;
  images?: Tensor;
  pixels?: NativePixels;
}

export interface NativePipeline {
  readonly info: NativePipelineInfo;
  generate(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeGenerateResult>;
  candidates(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeCandidatesResult>;
  readonly hasLora: boolean;
  loadLora(file: string, options: object, token?: NativeCancelToken,
           onProgress?: NativeProgressCallback): Promise<{ layers: number; skippedKeys: number }>;
  saveLora(file: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<void>;
  setLoraEnabled(enabled: boolean): void;
  mergeLora(token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<number>;
  dispose(): void;
}

// Merged into NativeAddon above: the pipeline loader.
export interface NativeAddon {
  loadPipeline(dir: string, options: object | undefined, token?: NativeCancelToken,
               onProgress?: NativeProgressCallback): Promise<NativePipeline>;
}

// The step-aware preference model (native/addon/evaluator_binding.cpp).
export interface NativeEvaluatorInfo {
  device: 'cpu' | 'cuda';
  dtype: 'fp32' | 'fp16' | 'bf16';
  timeConditioning: 'plain' | 'step-aware' | 'step-agnostic';
  imageSize: number;
  projectionDim: number;
}

export interface NativePairSet {
  prompts: string[];
  images0: Tensor;
  images1: Tensor;
  /** Probability that image 0 is preferred: 1, 0 or 0.5 (a tie). */
  preferred0: number[];
}

export interface NativeValidationReport {
  step: number;
  timesteps: number[];
  accuracy: number[];
  pairs: number;
}

export interface NativeEvaluatorTrainResult {
  startStep: number;
  /** This process's rank and the number of ranks (0 and 1 without `distributed`). */
  rank: number;
  worldSize: number;
  stepsDone: number;
  losses: number[];
  validations: NativeValidationReport[];
  checkpoints: string[];
}

export interface NativeEvaluator {
  readonly info: NativeEvaluatorInfo;
  scoreImages(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Tensor>;
  scoreLatents(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Tensor>;
  validate(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeValidationReport>;
  train(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeEvaluatorTrainResult>;
  save(dir: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<void>;
  dispose(): void;
}

export interface NativePairRecord {
  prompt: string;
  image0: string;
  image1: string;
  label: 0 | 1 | 'tie';
  line: number;
}

export interface NativeAddon {
  loadEvaluator(dir: string, options: object | undefined, token?: NativeCancelToken,
                onProgress?: NativeProgressCallback): Promise<NativeEvaluator>;
  readPairsFile(path: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativePairRecord[]>;
  comparePairScores(scores: number[], threshold: number): { winner: number; loser: number; margin: number; kept: boolean };
}

// The SPO trainer (native/addon/trainer_binding.cpp).
export interface NativeTrainResult {
  startRound: number;
  roundsDone: number;
  totalRounds: number;
  optimizerSteps: number;
  /** Minibatches dropped for a NaN or Inf (onNonFinite: 'skip'). */
  skippedUpdates: number;
  losses: number[];
  pairsKept: number;
  pairsTied: number;
  pairsCut: number;
  samplingEvaluations: number;
  updateEvaluations: number;
  samplingSeconds: number;
  updateSeconds: number;
  /** Absent on ranks > 0 of a data-parallel run (rank 0 exports). */
  loraFile?: string;
  /** This process's rank and the run's world size (0 and 1 without a process group). */
  rank: number;
  worldSize: number;
  /** Bytes this rank handed to collectives (all zero on one process). */
  communication: { collectives: number; allReduceBytes: number; allGatherBytes: number; broadcastBytes: number };
}

export interface NativeAddon {
  validateSpoSettings(settings: object): Record<string, unknown>;
  readPromptFile(path: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<string[]>;
  trainSpo(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeTrainResult>;
}

export interface NativeDiffusionDpoResult {
  startStep: number;
  stepsDone: number;
  losses: number[];
  implicitAccuracy: number[];
  pairsUsed: number;
  updateEvaluations: number;
  loraFile?: string;
}

export interface NativeAddon {
  trainDiffusionDpo(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeDiffusionDpoResult>;
}

export interface NativeAddon {
  runBenchmark(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Record<string, unknown>>;
}

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

export interface NativeAddon {
  worldPrompts(split: string, track?: string): string[];
  worldSplitOf(prompt: string, track?: string): string;
  renderWorld(prompt: string, size: number, seed: number | bigint, track?: string, defects?: string[]): { data: Float32Array; shape: number[] };
  judgeWorld(images: object, prompts: string[], track?: string): NativeJudgeScore[] | NativeScenesJudgeScore[];
  pretrainWorld(options: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<Record<string, unknown>>;
}

// The native addon's surface, typed in one place (one NativeAddon interface)
// with the public request and result types of lib/: a request the addon takes
// is the public one with its Pipeline / Evaluator / pairs fields replaced by
// their native forms. Types only the addon returns (raw pixels, handles) are
// declared here. Only lib/ talks to the addon. The same addon also exports the
// shapes world's functions; the world types them itself (lib/world/native-world.ts).
import type { DiffusionDpoRequest } from '../training/baselines';
import type { BenchReport, BenchRequest } from '../bench/bench';
import type {
  Evaluator, EvaluatorLoadOptions, LatentEvaluatorCreateOptions, EvaluatorTrainRequest, EvaluatorTrainResult, PairDecision, ScoreRequest,
  TimeConditioning,
} from '../models/evaluator';
import type { Device, DType } from '../runtime/device';
import type { SPO_SETTINGS_SCHEMA, SpoSettings } from '../generated/spo-settings';
import type { JobOptions } from '../runtime/jobs';
import type { ModelOptions } from '../models/model-handle';
import type { PreferenceLabel } from '../training/pairs';
import type {
  CandidatesRequest, CandidatesResult, GenerateRequest, LoraLoadOptions, LoraLoadResult, PipelineInfo, PipelineLoadOptions,
} from '../models/pipeline';
import type { DDIMSchedulerConfig, GaussianSampleOptions, GaussianSampleResult, StepInput, StepOutput } from '../models/scheduler';
import type { Tensor } from '../runtime/tensor';
import type { InputIds, TextEncoderConfig, TextEncoderOutput } from '../models/text-encoder';
import type { TokenizerInfo } from '../models/tokenizer';
import type { TrainerOptions } from '../training/trainer';
import type { UNetConfig, UNetInput } from '../models/unet';
import type { LatentDistribution, VAEConfig } from '../models/vae';

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

/** The trailing arguments of every asynchronous native call. */
export type Job = [token?: NativeCancelToken, onProgress?: NativeProgressCallback];

/** A public request or option object as the addon takes it: job options (signal, onProgress) left out. */
type WithoutJob<T> = Omit<T, keyof JobOptions>;
/** A public request with some fields replaced by their native forms (handles, stacked pairs). */
type Native<T, Replaced> = Omit<T, keyof Replaced> & Replaced;

/** The settings schema as the addon exports it (lib/generated/spo-settings.ts holds it as generated). */
export type SpoSettingsSchema = typeof SPO_SETTINGS_SCHEMA;

export interface NativeScheduler {
  setTimesteps(steps: number): number[];
  readonly timesteps: number[];
  readonly numInferenceSteps: number;
  readonly config: Record<string, unknown>;
  alphasCumprod(): Float32Array;
  betas(): Float32Array;
  prevTimestep(t: number): number;
  step(args: StepInput, ...job: Job): Promise<StepOutput>;
  addNoise(x0: Tensor, noise: Tensor, t: number | number[], ...job: Job): Promise<Tensor>;
  getVelocity(x0: Tensor, noise: Tensor, t: number | number[], ...job: Job): Promise<Tensor>;
  sampleGaussian(args: GaussianSampleOptions, ...job: Job): Promise<GaussianSampleResult>;
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

// ---- Model handles (UNet, VAE, TextEncoder): see lib/models/unet.ts, vae.ts, text-encoder.ts ----

export interface NativeUNet {
  forward(args: UNetInput, ...job: Job): Promise<Tensor>;
  readonly config: UNetConfig;
  readonly options: Required<ModelOptions>;
  dispose(): void;
}

export interface NativeVAE {
  encode(images: Tensor, ...job: Job): Promise<LatentDistribution>;
  decode(latents: Tensor, ...job: Job): Promise<Tensor>;
  decodeLatents(latents: Tensor, ...job: Job): Promise<Tensor>;
  readonly config: VAEConfig;
  readonly options: Required<ModelOptions>;
  dispose(): void;
}

export interface NativeTextEncoder {
  forward(inputIds: InputIds, ...job: Job): Promise<TextEncoderOutput>;
  readonly config: TextEncoderConfig;
  readonly options: Required<ModelOptions>;
  dispose(): void;
}

// ---- Pipeline: see lib/models/pipeline.ts ----

export interface NativePixels {
  data: Uint8Array;
  shape: number[];
}

export interface NativeGenerateResult {
  latents: Tensor;
  images?: Tensor;
  pixels?: NativePixels;
}

/** The public result before its pixels become Image objects. */
export type NativeCandidatesResult = Omit<CandidatesResult, 'images'> & { images?: Tensor; pixels?: NativePixels };

export interface NativePipeline {
  readonly info: PipelineInfo;
  generate(args: GenerateRequest, ...job: Job): Promise<NativeGenerateResult>;
  candidates(args: CandidatesRequest, ...job: Job): Promise<NativeCandidatesResult>;
  readonly hasLora: boolean;
  loadLora(file: string, options: WithoutJob<LoraLoadOptions>, ...job: Job): Promise<LoraLoadResult>;
  saveLora(file: string, ...job: Job): Promise<void>;
  setLoraEnabled(enabled: boolean): void;
  mergeLora(...job: Job): Promise<number>;
  dispose(): void;
}

// ---- The step-aware preference model: see lib/models/evaluator.ts ----

export interface NativeEvaluatorInfo {
  device: Device;
  dtype: DType;
  timeConditioning: TimeConditioning;
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

type ValidateRequest = Parameters<Evaluator['validate']>[0];

/** An opaque step scorer (native/addon/step_scorer_binding.h): trainSpo opens it for its run. */
export interface NativeStepScorer {
  /** A type brand only: the object carries no properties. */
  readonly __brand: 'NativeStepScorer';
}

export interface NativeEvaluator {
  readonly info: NativeEvaluatorInfo;
  /** This model as a training run's step scorer. */
  stepScorer(): NativeStepScorer;
  scoreImages(args: Pick<ScoreRequest, 'prompts' | 'timesteps' | 'maxBatch'> & { images: Tensor }, ...job: Job): Promise<Tensor>;
  scoreLatents(args: Native<Omit<ScoreRequest, 'images'>, { pipeline: NativePipeline; latents: Tensor }>,
               ...job: Job): Promise<Tensor>;
  validate(args: Native<ValidateRequest, { pipeline: NativePipeline; pairs: NativePairSet }>,
           ...job: Job): Promise<NativeValidationReport>;
  train(args: Native<EvaluatorTrainRequest, { pipeline: NativePipeline; train: NativePairSet; validation?: NativePairSet }>,
        ...job: Job): Promise<EvaluatorTrainResult>;
  save(dir: string, ...job: Job): Promise<void>;
  dispose(): void;
}

export interface NativePairRecord {
  prompt: string;
  image0: string;
  image1: string;
  label: PreferenceLabel;
  line: number;
}

// ---- Training: see lib/training/trainer.ts and lib/training/baselines.ts ----

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

/** trainSpo's request: the Trainer's run options with the settings resolved and handles for the models. */
export type NativeTrainSpoRequest = Pick<TrainerOptions, 'checkpointDir' | 'resume' | 'maxRounds' | 'distributed'> & {
  pipeline: NativePipeline;
  prompts: string[];
  settings: SpoSettings;
  outputDir?: string;
  /** Whatever scores the candidates: an Evaluator's, or another module's (the world's judge). */
  scorer: NativeStepScorer;
};

export interface NativeDiffusionDpoResult {
  startStep: number;
  stepsDone: number;
  losses: number[];
  implicitAccuracy: number[];
  pairsUsed: number;
  updateEvaluations: number;
  loraFile?: string;
}

// ---- The addon ----

export interface NativeAddon {
  CancelToken: new () => NativeCancelToken;
  buildInfo(): NativeBuildInfo;
  diagnostics: {
    steppedJob(steps: number, msPerStep: number, ...job: Job): Promise<number>;
    failingJob(kind: string, ...job: Job): Promise<void>;
    runningJobs(): number;
  };

  DDIMScheduler: new (config?: DDIMSchedulerConfig) => NativeScheduler;
  loadTokenizer(dir: string, ...job: Job): Promise<NativeTokenizer>;
  loadUNet(dir: string, options: ModelOptions, ...job: Job): Promise<NativeUNet>;
  loadVAE(dir: string, options: ModelOptions, ...job: Job): Promise<NativeVAE>;
  loadTextEncoder(dir: string, options: ModelOptions, ...job: Job): Promise<NativeTextEncoder>;
  loadPipeline(dir: string, options: WithoutJob<PipelineLoadOptions>, ...job: Job): Promise<NativePipeline>;

  loadEvaluator(dir: string, options: WithoutJob<EvaluatorLoadOptions>, ...job: Job): Promise<NativeEvaluator>;
  /** The latent kind (native/addon/latent_evaluator_binding.h): the same members as an Evaluator handle. */
  loadLatentEvaluator(dir: string, options: WithoutJob<EvaluatorLoadOptions>, ...job: Job): Promise<NativeEvaluator>;
  createLatentEvaluator(textFrom: string, options: WithoutJob<LatentEvaluatorCreateOptions>, ...job: Job): Promise<NativeEvaluator>;
  isLatentEvaluatorFolder(dir: string): boolean;
  readPairsFile(path: string, ...job: Job): Promise<NativePairRecord[]>;
  comparePairScores(scores: number[], threshold: number): PairDecision;

  spoSettingsSchema(): SpoSettingsSchema;
  validateSpoSettings(settings: Partial<SpoSettings>): SpoSettings;
  readPromptFile(path: string, ...job: Job): Promise<string[]>;
  trainSpo(args: NativeTrainSpoRequest, ...job: Job): Promise<NativeTrainResult>;
  trainDiffusionDpo(args: Native<Omit<DiffusionDpoRequest, 'output'>, { pipeline: NativePipeline; pairs: NativePairSet; outputDir?: string }>,
                    ...job: Job): Promise<NativeDiffusionDpoResult>;
  runBenchmark(args: Native<Omit<BenchRequest, 'latentEvaluator'>, { pipeline: NativePipeline; evaluator: NativeEvaluator;
    latentScorer?: NativeStepScorer }>, ...job: Job): Promise<BenchReport>;
}

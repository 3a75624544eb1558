// DDIMScheduler: the diffusers scheduler of Stable Diffusion with the
// per-step log-probability SPO needs (docs/method.md §1). All math runs in the
// native engine; this class shapes the API.
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { callSync, runJob, type JobOptions } from '../runtime/jobs';
import { Handle } from './model-handle';
import { native } from '../native/native';
import type { NativeScheduler } from '../native/native-types';
import type { Tensor } from '../runtime/tensor';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface DDIMSchedulerConfig {
  /** Training steps (1000). */
  numTrainTimesteps?: number;
  betaStart?: number;
  betaEnd?: number;
  /** Stable Diffusion trains on scaled_linear 0.00085..0.012 (the default). */
  betaSchedule?: BetaSchedule;
  /** false (SD): the last step lands on alpha_bar[0], not 1. */
  setAlphaToOne?: boolean;
  clipSample?: boolean;
  clipSampleRange?: number;
  /** 1 for Stable Diffusion: leading timesteps 951, 901, ..., 1 for 20 steps. */
  stepsOffset?: number;
  timestepSpacing?: TimestepSpacing;
  predictionType?: PredictionType;
  /**
   * At the last step prev_t < 0. false (the sampler): use the final alpha
   * (1 if setAlphaToOne, else alpha_bar[0]). true (the SPO training code):
   * clamp prev_t to 0 and read alpha_bar[0]. Equal unless setAlphaToOne.
   */
  clampPrevTimestep?: boolean;
}

export interface StepInput {
  /** x_t, [B, ...]. */
  sample: Tensor;
  /** The model's eps, v or x0 (per predictionType), same shape as sample. */
  modelOutput: Tensor;
  /** One timestep for the batch, or one per sample. */
  timestep: number | number[];
  /** 0 = deterministic DDIM; 1 = DDPM-like (SPO's default). */
  eta?: number;
  /** Noise for the stochastic part (same shape as sample); else drawn from `seed`. */
  noise?: Tensor;
  seed?: number | bigint;
  /** Score this x_prev instead of drawing one: its log-probability is returned. */
  prevSample?: Tensor;
  /** Re-derive eps from a clipped x0 (diffusers' use_clipped_model_output). */
  useClippedModelOutput?: boolean;
}

export interface StepOutput {
  prevSample: Tensor;
  predOriginalSample: Tensor;
  /** Mean of p(x_prev | x_t). */
  mean: Tensor;
  /** Per-sample standard deviation of p(x_prev | x_t). */
  std: Float32Array;
  /**
   * Per-sample log p(x_prev | x_t): the MEAN over the non-batch elements
   * (docs/method.md §1). NaN where std is 0 (eta = 0): a deterministic step has no density.
   */
  logProb: Float32Array;
}

export interface GaussianSampleOptions {
  shape: number[];
  steps?: number;
  eta?: number;
  seed?: number | bigint;
  /** Target distribution N(mean, std^2) per element. */
  mean?: number;
  std?: number;
}

export interface GaussianSampleResult {
  sample: Tensor;
  timesteps: number[];
  /** [steps, B] log-probability of each transition. */
  logProbs: Tensor;
  stepMeans: number[];
  stepStds: number[];
  /** Closed-form mean and std of DDIM's result with this exact denoiser (discretisation included). */
  expectedMean: number;
  expectedStd: number;
}

const diffusersKeys: Record<string, keyof DDIMSchedulerConfig> = {
  num_train_timesteps: 'numTrainTimesteps',
  beta_start: 'betaStart',
  beta_end: 'betaEnd',
  beta_schedule: 'betaSchedule',
  set_alpha_to_one: 'setAlphaToOne',
  clip_sample: 'clipSample',
  clip_sample_range: 'clipSampleRange',
  steps_offset: 'stepsOffset',
  timestep_spacing: 'timestepSpacing',
  prediction_type: 'predictionType',
};

// Keys of a diffusers scheduler_config.json that carry no meaning for DDIM
// here, and the values of unsupported features that are harmless.
const ignoredKeys = new Set(['skip_prk_steps', 'interpolation_type',
  'use_karras_sigmas', 'sample_max_value', 'dynamic_thresholding_ratio', 'timestep_type', 'variance_type']);
const unsupportedUnlessOff: Record<string, unknown> = {
  thresholding: false,
  rescale_betas_zero_snr: false,
  trained_betas: null,
};

export class DDIMScheduler extends Handle<NativeScheduler> {
  constructor(config: DDIMSchedulerConfig = {}) {
    super(callSync(() => new (native().DDIMScheduler)(config)), 'DDIMScheduler');
  }

  /**
   * From a diffusers `scheduler_config.json` object (DDIM, PNDM or another
   * scheduler of the same model: the training schedule is what matters).
   */
  static fromDiffusersConfig(json: Record<string, unknown>): DDIMScheduler {
    if (typeof json !== 'object' || json === null) throw new InvalidArgumentError('the scheduler config must be an object');
    const config: Record<string, unknown> = {};
    // As diffusers' ConfigMixin reads a config: `_` keys are bookkeeping, and a
    // key listed in `_use_default_values` is treated as absent (the default applies).
    const listed = json._use_default_values;
    const useDefault = new Set(Array.isArray(listed) ? listed : []);
    for (const [key, value] of Object.entries(json)) {
      if (key.startsWith('_') || useDefault.has(key)) continue;
      const mapped = diffusersKeys[key];
      if (mapped) config[mapped] = value;
      else if (key in unsupportedUnlessOff) {
        if (value !== unsupportedUnlessOff[key] && value !== undefined) {
          throw new InvalidArgumentError(`scheduler option ${key}=${JSON.stringify(value)} is not supported`);
        }
      } else if (!ignoredKeys.has(key)) {
        throw new InvalidArgumentError(`unknown scheduler option '${key}'`);
      }
    }
    return new DDIMScheduler(config as DDIMSchedulerConfig);
  }

  get config(): Required<DDIMSchedulerConfig> {
    return callSync(() => this.handle().config) as Required<DDIMSchedulerConfig>;
  }

  /** Chooses `steps` inference timesteps (descending) and returns them. */
  setTimesteps(steps: number): number[] {
    return callSync(() => this.handle().setTimesteps(steps));
  }

  get timesteps(): number[] {
    return callSync(() => this.handle().timesteps);
  }

  get numInferenceSteps(): number {
    return callSync(() => this.handle().numInferenceSteps);
  }

  /** alpha_bar_t for t = 0 .. numTrainTimesteps-1 (float32, as diffusers). */
  alphasCumprod(): Float32Array {
    return callSync(() => this.handle().alphasCumprod());
  }

  betas(): Float32Array {
    return callSync(() => this.handle().betas());
  }

  /** t - numTrainTimesteps / numInferenceSteps (negative at the last step). */
  prevTimestep(t: number): number {
    return callSync(() => this.handle().prevTimestep(t));
  }

  /** One reverse step per sample, each at its own timestep, with its log-probability. */
  step(input: StepInput, options?: JobOptions): Promise<StepOutput> {
    const site = captureCallSite(this.step);
    return runJob(site, options, (token, onProgress) => this.handle().step(input, token, onProgress));
  }

  /** log p(prevSample | sample) under the step's Gaussian: the quantity SPO's loss compares. */
  logProb(input: StepInput & { prevSample: Tensor }, options?: JobOptions): Promise<StepOutput> {
    const site = captureCallSite(this.logProb);
    return runJob(site, options, async (token, onProgress) => {
      if (!input || typeof input !== 'object' || input.prevSample === undefined) {
        throw new InvalidArgumentError('logProb needs prevSample');
      }
      return this.handle().step({ ...input, eta: input.eta ?? 1 }, token, onProgress);
    });
  }

  /** x0 predicted from x_t and the model output. */
  async predictOriginalSample(input: Pick<StepInput, 'sample' | 'modelOutput' | 'timestep'>, options?: JobOptions): Promise<Tensor> {
    const site = captureCallSite(this.predictOriginalSample);
    const out = await runJob(site, options, (token, onProgress) =>
      this.handle().step({ sample: input?.sample, modelOutput: input?.modelOutput, timestep: input?.timestep, eta: 0 },
        token, onProgress));
    return out.predOriginalSample;
  }

  /** x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise, per-sample t. */
  addNoise(original: Tensor, noise: Tensor, timesteps: number | number[], options?: JobOptions): Promise<Tensor> {
    const site = captureCallSite(this.addNoise);
    return runJob(site, options, (token, onProgress) => this.handle().addNoise(original, noise, timesteps, token, onProgress));
  }

  /** The v-prediction target sqrt(alpha_bar_t) noise - sqrt(1 - alpha_bar_t) x0. */
  getVelocity(original: Tensor, noise: Tensor, timesteps: number | number[], options?: JobOptions): Promise<Tensor> {
    const site = captureCallSite(this.getVelocity);
    return runJob(site, options, (token, onProgress) => this.handle().getVelocity(original, noise, timesteps, token, onProgress));
  }

  /**
   * A whole DDIM run driven by the exact noise predictor of a Gaussian target
   * N(mean, std^2): with no trained network it checks the sampler end to end
   * (the result must approach the target). Reports progress per step.
   */
  sampleGaussian(options: GaussianSampleOptions, jobOptions?: JobOptions): Promise<GaussianSampleResult> {
    const site = captureCallSite(this.sampleGaussian);
    return runJob(site, jobOptions, (token, onProgress) => this.handle().sampleGaussian(options, token, onProgress));
  }
}

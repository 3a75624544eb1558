// Text-to-image with a diffusers pipeline directory (SD-1.5 or SDXL layout):
// `Pipeline` holds the loaded components, `Sampler` draws images from it
// (classifier-free guided DDIM) and the SPO primitive, k candidate next
// latents from one shared x_t. All the work runs in the native engine.
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { Image } from '../runtime/image';
import { callSync, runJob, type JobOptions } from '../runtime/jobs';
import { Handle } from './model-handle';
import { native } from '../native/native';
import type { NativePipeline, NativePixels } from '../native/native-types';
import type { Tensor } from '../runtime/tensor';
import type { Device, DType } from '../runtime/device';

export { Image } from '../runtime/image';

export type PipelineKind = 'sd15' | 'sdxl';

export interface PipelineLoadOptions extends JobOptions {
  device?: Device;
  /** UNet and text encoders; an fp16 VAE that asks for it (force_upcast) decodes in fp32. */
  dtype?: DType;
}

export interface PipelineInfo {
  kind: PipelineKind;
  device: Device;
  dtype: DType;
  /** Pixels per latent cell (8 for SD). */
  vaeScaleFactor: number;
  latentChannels: number;
  /** Image side used when width / height are not given. */
  defaultSize: number;
}

export interface LoraLoadOptions extends JobOptions {
  /** The file's key prefix of the UNet's weights (default "unet", as diffusers writes). */
  prefix?: string;
}

export interface LoraLoadResult {
  /** UNet layers that received a LoRA. */
  layers: number;
  /** Keys of other components (text encoders), skipped as diffusers' load_lora_into_unet does. */
  skippedKeys: number;
}

export class Pipeline extends Handle<NativePipeline> {
  private constructor(handle: NativePipeline) {
    super(handle, 'Pipeline');
  }

  /**
   * Loads a diffusers pipeline directory (model_index.json, unet, vae,
   * text_encoder, tokenizer, scheduler; SDXL also text_encoder_2, tokenizer_2).
   */
  static async load(dir: string, options: PipelineLoadOptions = {}): Promise<Pipeline> {
    const site = captureCallSite(Pipeline.load);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const { signal, onProgress, ...model } = options;
    const handle = await runJob(site, { signal, onProgress },
      (token, progress) => native().loadPipeline(dir, model, token, progress));
    return new Pipeline(handle);
  }

  get info(): PipelineInfo {
    return callSync(() => this.nativeHandle().info);
  }

  /** @internal The native handle, for Sampler. */
  nativeHandle(): NativePipeline {
    return this.handle();
  }

  /** Whether a LoRA is attached to the UNet. */
  get hasLora(): boolean {
    return callSync(() => this.nativeHandle().hasLora);
  }

  /**
   * Attaches a diffusers / peft LoRA file (safetensors) to the UNet, enabled. A missing
   * file, malformed keys or shapes that do not fit the UNet are refused before anything
   * changes; so is a pipeline that already has a LoRA (merge it first).
   */
  async loadLora(file: string, options: LoraLoadOptions = {}): Promise<LoraLoadResult> {
    const site = captureCallSite(this.loadLora);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
    const { signal, onProgress, ...rest } = options;
    return runJob(site, { signal, onProgress }, (token, progress) => this.nativeHandle().loadLora(file, rest, token, progress));
  }

  /** Writes the attached LoRA in diffusers' format (pipe.load_lora_weights reads it); refused when none is attached. */
  async saveLora(file: string, options?: JobOptions): Promise<void> {
    const site = captureCallSite(this.saveLora);
    await runJob(site, options, (token, progress) => this.nativeHandle().saveLora(file, token, progress));
  }

  /** Switches the attached LoRA on or off (off: exactly the base model). Refused while a job runs on this pipeline. */
  setLoraEnabled(enabled: boolean): void {
    callSync(() => this.nativeHandle().setLoraEnabled(enabled));
  }

  /** Folds the attached LoRA (on or off) into the UNet's weights and removes it; resolves to the layers merged. */
  async mergeLora(options?: JobOptions): Promise<number> {
    const site = captureCallSite(this.mergeLora);
    return runJob(site, options, (token, progress) => this.nativeHandle().mergeLora(token, progress));
  }
}

export interface GenerateRequest {
  prompts: string[];
  /** Unset: the empty prompt "" (SDXL directories may ask for zeros instead, as diffusers does). */
  negativePrompt?: string;
  /** DDIM steps (default 20). */
  steps?: number;
  /** Classifier-free guidance weight w in eps_u + w (eps_c - eps_u) (default 5; <= 1 turns guidance off). */
  guidanceScale?: number;
  /** DDIM stochasticity (default 1, as SPO samples; 0 is deterministic). */
  eta?: number;
  /** Seeds x_T and every step's noise (default 42); the same seed gives the same images on any device. */
  seed?: number | bigint;
  /** Multiples of 8 (default: the pipeline's defaultSize). */
  width?: number;
  height?: number;
  /** x_T [prompts.length, latentChannels, height/8, width/8] instead of drawing it from the seed. */
  initialLatents?: Tensor;
  /** Memory budget: at most this many UNet rows (of the guidance-doubled batch) at once; same results (default 0: no limit). */
  maxBatch?: number;
}

export interface GenerateResult {
  images: Image[];
  /** The final latents [B, C, h, w] (as the UNet sees them: scaled). */
  latents: Tensor;
}

export interface CandidatesRequest {
  /** P prompts, each with its own shared latent. */
  prompts: string[];
  negativePrompt?: string;
  /** x_t [P, C, h, w]. */
  latents: Tensor;
  /** The guided model output at x_t [P, C, h, w] (computed once, never again). */
  modelOutput: Tensor;
  /** t of x_t: one of the `steps`-step schedule's timesteps. */
  timestep: number;
  steps?: number;
  /** Candidates per prompt (default 4). */
  k?: number;
  /**
   * Transitions per chain j (default 1; docs/method.md §2.4): after the branch step each candidate is
   * denoised j - 1 further guided steps before its x0 is predicted. The chain must end by the schedule's end.
   */
  transitionsPerChain?: number;
  guidanceScale?: number;
  eta?: number;
  seed?: number | bigint;
  /** Run the guided UNet on every candidate at prev_t for its x0 (default true). */
  predictX0?: boolean;
  /** Decode the x0 predictions into images (default false). */
  decode?: boolean;
  /** Memory budget: at most this many UNet rows (of the guidance-doubled batch) at once; same results (default 0: no limit). */
  maxBatch?: number;
}

export interface CandidatesResult {
  /** The chains' final timestep; negative past the last step, where the candidates are clean latents. */
  prevTimestep: number;
  /** Each chain's final latent [P, k, C, h, w] (with transitionsPerChain 1, x_prev: the same DDIM mean, independent noise). */
  candidates: Tensor;
  /** [P, k] the chain's log-prob: the sum of chainLogProbs over its transitions. */
  logProbs: Tensor;
  /** [j] the timestep each transition starts from (the first is `timestep`). */
  chainTimesteps: number[];
  /** [P, k, j, C, h, w] the latent after each transition (the last is `candidates`). */
  chain: Tensor;
  /** [P, k, j] mean over C, h, w of log N(x; mean, std^2) of each transition. */
  chainLogProbs: Tensor;
  /** Guided output at each candidate [P, k, C, h, w] (with predictX0, before the last step). */
  modelOutput?: Tensor;
  /** x0 of each candidate [P, k, C, h, w] (with predictX0 or decode). */
  predOriginal?: Tensor;
  /** images[p][j]: candidate j of prompt p, decoded (with decode). */
  images?: Image[][];
}

function checkRequest(request: unknown, what: string): asserts request is object {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new InvalidArgumentError(`${what} must be an object`);
  }
}

/** [..., H, W, 3] uint8 pixels -> one Image per leading index. */
function toImages(pixels: NativePixels): Image[] {
  const [height, width] = pixels.shape.slice(-3, -1) as [number, number];
  const size = width * height * 3;
  const count = pixels.data.length / size;
  return Array.from({ length: count }, (_, i) => new Image(width, height, pixels.data.subarray(i * size, (i + 1) * size)));
}

export class Sampler {
  readonly #pipeline: Pipeline;

  constructor(pipeline: Pipeline) {
    if (!(pipeline instanceof Pipeline)) throw new InvalidArgumentError('new Sampler(pipeline) needs a loaded Pipeline');
    this.#pipeline = pipeline;
  }

  get pipeline(): Pipeline {
    return this.#pipeline;
  }

  /** One image per prompt. Progress: stage "denoise" per step, then "decode". */
  async generate(request: GenerateRequest, options?: JobOptions): Promise<Image[]> {
    const site = captureCallSite(this.generate);
    return (await this.#generate(site, request, options)).images;
  }

  /** As generate, with the final latents too. */
  async generateWithLatents(request: GenerateRequest, options?: JobOptions): Promise<GenerateResult> {
    const site = captureCallSite(this.generateWithLatents);
    return this.#generate(site, request, options);
  }

  async #generate(site: { stack: string }, request: GenerateRequest, options?: JobOptions): Promise<GenerateResult> {
    checkRequest(request, 'the generate request');
    const out = await runJob(site, options, (token, progress) => this.#pipeline.nativeHandle().generate(request, token, progress));
    return { images: toImages(out.pixels!), latents: out.latents };
  }

  /** The SPO branching step: k candidates per prompt from one shared x_t (docs/method.md §2). */
  async candidates(request: CandidatesRequest, options?: JobOptions): Promise<CandidatesResult> {
    const site = captureCallSite(this.candidates);
    checkRequest(request, 'the candidates request');
    const out = await runJob(site, options, (token, progress) => this.#pipeline.nativeHandle().candidates(request, token, progress));
    const result: CandidatesResult = {
      prevTimestep: out.prevTimestep, candidates: out.candidates, logProbs: out.logProbs,
      chainTimesteps: out.chainTimesteps, chain: out.chain, chainLogProbs: out.chainLogProbs,
    };
    if (out.modelOutput) result.modelOutput = out.modelOutput;
    if (out.predOriginal) result.predOriginal = out.predOriginal;
    if (out.pixels) {
      const k = out.candidates.shape[1]!;
      const flat = toImages(out.pixels);
      result.images = Array.from({ length: flat.length / k }, (_, p) => flat.slice(p * k, (p + 1) * k));
    }
    return result;
  }
}

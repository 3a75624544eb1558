// VAE: diffusers' AutoencoderKL loaded from one `vae` component directory.
// encode gives the latent distribution, decode the raw decoder on unscaled
// latents, decodeLatents the diffusion model's (scaled) latents.
import { captureCallSite } from '../runtime/errors';
import { runJob, type JobOptions } from '../runtime/jobs';
import { ModelHandle, loadModel, type ModelLoadOptions } from './model-handle';
import { native } from '../native/native';
import type { NativeVAE } from '../native/native-types';
import type { Tensor } from '../runtime/tensor';

export interface VAEConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  sampleSize: number;
  /** 0.18215 for SD-1.5, 0.13025 for SDXL. */
  scalingFactor: number;
  /** null when latents are not shifted (SD-1.5, SDXL). */
  shiftFactor: number | null;
  /** diffusers runs this VAE in fp32 even in fp16 pipelines (it overflows in fp16). */
  forceUpcast: boolean;
  /** Image side / latent side (8 for SD-1.5 and SDXL). */
  downscaleFactor: number;
}

/** The encoder's diagonal Gaussian over latents; logvar is clamped to [-30, 20] as in diffusers. */
export interface LatentDistribution {
  mean: Tensor;
  logvar: Tensor;
}

export class VAE extends ModelHandle<NativeVAE, VAEConfig> {
  private constructor(handle: NativeVAE) {
    super(handle, 'VAE');
  }

  /** Reads a diffusers `vae` directory (config.json + diffusion_pytorch_model*.safetensors). */
  static async load(dir: string, options?: ModelLoadOptions): Promise<VAE> {
    const site = captureCallSite(VAE.load);
    const handle = await loadModel(site, options, (model, token, onProgress) => native().loadVAE(dir, model, token, onProgress));
    return new VAE(handle);
  }

  /** The diffusion model's latents are (z - shiftFactor) * scalingFactor. */
  get scalingFactor(): number {
    return this.config.scalingFactor;
  }

  get shiftFactor(): number | null {
    return this.config.shiftFactor;
  }

  /** images: [B, inChannels, H, W] in [-1, 1] -> the latent distribution, [B, latentChannels, H/8, W/8]. */
  async encode(images: Tensor, options?: JobOptions): Promise<LatentDistribution> {
    const site = captureCallSite(this.encode);
    return runJob(site, options, (token, onProgress) => this.handle().encode(images, token, onProgress));
  }

  /** The raw decoder: unscaled latents z (as encode's distribution holds them) -> images in about [-1, 1]. */
  async decode(latents: Tensor, options?: JobOptions): Promise<Tensor> {
    const site = captureCallSite(this.decode);
    return runJob(site, options, (token, onProgress) => this.handle().decode(latents, token, onProgress));
  }

  /** The diffusion model's latents: divided by scalingFactor (plus shiftFactor) first, then decoded. */
  async decodeLatents(latents: Tensor, options?: JobOptions): Promise<Tensor> {
    const site = captureCallSite(this.decodeLatents);
    return runJob(site, options, (token, onProgress) => this.handle().decodeLatents(latents, token, onProgress));
  }
}

// UNet: diffusers' UNet2DConditionModel (SD-1.5 and SDXL) loaded from one
// `unet` component directory, with a plain forward on float32 tensors.
import { captureCallSite } from '../runtime/errors';
import { runJob, type JobOptions } from '../runtime/jobs';
import { ModelHandle, loadModel, type ModelLoadOptions } from './model-handle';
import { native } from '../native/native';
import type { NativeUNet } from '../native/native-types';
import type { Tensor } from '../runtime/tensor';

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  /** Latent side the model was trained at (64 for SD-1.5, 128 for SDXL). */
  sampleSize: number;
  /** Width of encoderHiddenStates (768 SD-1.5, 2048 SDXL). */
  crossAttentionDim: number;
  blockOutChannels: number[];
  /** 'text_time' for SDXL (textEmbeds and timeIds are then required), else null. */
  additionEmbedType: string | null;
  additionTimeEmbedDim: number;
  projectionClassEmbeddingsInputDim: number;
}

export interface UNetInput {
  /** Noisy latents x_t, [B, inChannels, H, W]. */
  sample: Tensor;
  /** One timestep for the batch, or one per sample. */
  timesteps: number | number[];
  /** Text conditioning, [B, L, crossAttentionDim]. */
  encoderHiddenStates: Tensor;
  /** SDXL: pooled text embeddings, [B, D]. */
  textEmbeds?: Tensor;
  /** SDXL: [B, 6] (original size, crop top-left, target size). */
  timeIds?: Tensor;
}

export class UNet extends ModelHandle<NativeUNet, UNetConfig> {
  private constructor(handle: NativeUNet) {
    super(handle, 'UNet');
  }

  /** Reads a diffusers `unet` directory (config.json + diffusion_pytorch_model*.safetensors). */
  static async load(dir: string, options?: ModelLoadOptions): Promise<UNet> {
    const site = captureCallSite(UNet.load);
    const handle = await loadModel(site, options, (model, token, onProgress) => native().loadUNet(dir, model, token, onProgress));
    return new UNet(handle);
  }

  /** The model's prediction (eps, v or x0, as it was trained), [B, outChannels, H, W], float32. */
  async forward(input: UNetInput, options?: JobOptions): Promise<Tensor> {
    const site = captureCallSite(this.forward);
    return runJob(site, options, (token, onProgress) => this.handle().forward(input, token, onProgress));
  }
}

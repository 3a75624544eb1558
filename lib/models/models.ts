// The low-level model handles: each loads one diffusers / transformers
// component directory and offers a plain forward, for pipelines of your own.
export { UNet } from './unet';
export type { UNetConfig, UNetInput } from './unet';
export { VAE } from './vae';
export type { LatentDistribution, VAEConfig } from './vae';
export { TextEncoder } from './text-encoder';
export type { InputIds, TextEncoderConfig, TextEncoderOutput } from './text-encoder';
export type { DType, Device, ModelLoadOptions, ModelOptions } from './model-handle';

// What the model handles (UNet, VAE, TextEncoder) share: load options split
// into the model's own ({ device, dtype }) and the job's ({ signal, onProgress }),
// and the native handle with its dispose() semantics.
import { DisposedError, InvalidArgumentError } from './errors';
import type { JobOptions } from './jobs';
import type { Device, DType } from './device';

export type { Device, DType } from './device';

export interface ModelOptions {
  /** Where the weights live and the forward passes run (default 'cpu'). 'cuda' needs a usable GPU. */
  device?: Device;
  /** The weights' dtype (default 'fp32'). Inputs and outputs stay float32 in JavaScript. */
  dtype?: DType;
}

export type ModelLoadOptions = ModelOptions & JobOptions;

/** Splits load options; the native side refuses unknown keys and values in the model part. */
export function splitLoadOptions(options: ModelLoadOptions | undefined): [ModelOptions, JobOptions] {
  if (options === undefined) return [{}, {}];
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const { signal, onProgress, ...model } = options;
  return [model, { signal, onProgress }];
}

/** Owns one native handle until dispose(); running jobs keep the native model alive on their own. */
export abstract class ModelHandle<N extends { dispose(): void }> {
  #native: N | undefined;
  readonly #name: string;

  protected constructor(handle: N, name: string) {
    this.#native = handle;
    this.#name = name;
  }

  /** The native handle, or a DisposedError after dispose(). */
  protected handle(): N {
    if (!this.#native) throw new DisposedError(`this ${this.#name} was disposed`);
    return this.#native;
  }

  /** Frees the weights once no job uses them; later calls throw DisposedError. Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

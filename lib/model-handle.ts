// What the handle classes share: the native handle with its dispose()
// semantics, and (model handles: UNet, VAE, TextEncoder) load options split
// into the model's own ({ device, dtype }) and the job's ({ signal, onProgress }).
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

/** A native handle until dispose(): DisposedError naming the class afterwards. */
export class NativeHandle<N extends { dispose(): void }> {
  #native: N | undefined;
  readonly #name: string;

  constructor(handle: N, name: string) {
    this.#native = handle;
    this.#name = name;
  }

  /** The native handle, or a DisposedError after dispose(). */
  get(): N {
    if (!this.#native) throw new DisposedError(`this ${this.#name} was disposed`);
    return this.#native;
  }

  /** Lets the native object go (running jobs keep their own reference); idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
}

/**
 * The base of every class that owns one native handle (DDIMScheduler, Tokenizer,
 * UNet, VAE, TextEncoder, Pipeline); the Evaluator, a StepScorer, holds a
 * NativeHandle itself. Running jobs keep the native object alive on their own.
 */
export abstract class Handle<N extends { dispose(): void }> {
  readonly #native: NativeHandle<N>;

  protected constructor(handle: N, name: string) {
    this.#native = new NativeHandle(handle, name);
  }

  /** The native handle, or a DisposedError after dispose(). */
  protected handle(): N {
    return this.#native.get();
  }

  /** Frees the native object once no job uses it; later calls throw DisposedError. Idempotent. */
  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

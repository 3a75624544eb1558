// What the handle classes share: the native handle with its dispose()
// semantics, and (model handles: UNet, VAE, TextEncoder) load options split
// into the model's own ({ device, dtype }) and the job's ({ signal, onProgress }).
import { DisposedError, InvalidArgumentError, type CallSite } from '../runtime/errors';
import { callSync, runJob, type JobOptions } from '../runtime/jobs';
import type { NativeCancelToken, NativeProgressCallback } from '../native/native-types';
import type { Device, DType } from '../runtime/device';

export type { Device, DType } from '../runtime/device';

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

/** What a native model handle (UNet, VAE, TextEncoder) offers besides its calls. */
interface NativeModel<C> {
  readonly config: C;
  readonly options: Required<ModelOptions>;
  dispose(): void;
}

/** A model handle: a Handle with its config and options read once, at load. */
export abstract class ModelHandle<N extends NativeModel<C>, C> extends Handle<N> {
  readonly config: Readonly<C>;
  readonly options: Readonly<Required<ModelOptions>>;

  protected constructor(handle: N, name: string) {
    super(handle, name);
    this.config = Object.freeze(callSync(() => handle.config));
    this.options = Object.freeze(callSync(() => handle.options));
  }
}

/** Runs a model's native load job with the model part of `options`; resolves to the native handle. */
export function loadModel<N>(site: CallSite, options: ModelLoadOptions | undefined,
  load: (model: ModelOptions, token: NativeCancelToken, onProgress: NativeProgressCallback) => Promise<N>): Promise<N> {
  const [model, job] = splitLoadOptions(options);
  return runJob(site, job, (token, onProgress) => load(model, token, onProgress));
}

// Runs one native job: wires an AbortSignal to a native cancel token, passes
// progress through, and turns native errors into typed errors that carry the
// caller's stack.
import { AbortError, InvalidArgumentError, captureCallSite, toSpoError, type CallSite } from './errors';
import { native } from '../native/native';
import type { NativeCancelToken, NativeProgress } from '../native/native-types';

export type Progress = NativeProgress;

export interface JobOptions {
  /** Aborting rejects the Promise with an AbortError at the job's next step boundary. */
  signal?: AbortSignal;
  /** Called on the JavaScript thread, in order, as the job advances. A throw aborts the job with that error. */
  onProgress?: (progress: Progress) => void;
}

function checkOptions(options: JobOptions | undefined): JobOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object');
  const { signal, onProgress } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError('options.signal must be an AbortSignal');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidArgumentError('options.onProgress must be a function');
  }
  return options;
}

export async function runJob<T>(
  site: CallSite,
  options: JobOptions | undefined,
  start: (token: NativeCancelToken, onProgress: ((p: Progress) => void) | undefined) => Promise<T>,
): Promise<T> {
  const { signal, onProgress } = checkOptions(options);
  if (signal?.aborted) {
    const err = new AbortError(undefined, { cause: signal.reason });
    err.stack = `${err.name}: ${err.message}\n${site.stack.split('\n').slice(1).join('\n')}`;
    throw err;
  }
  const token = new (native().CancelToken)();
  const onAbort = () => token.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(token, onProgress);
  } catch (e) {
    throw toSpoError(e, site, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Calls a synchronous native method, mapping its errors to typed ones. */
export function callSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toSpoError(e);
  }
}

export { captureCallSite };

// Typed errors. Every error the package raises is a SpoError with a `code`;
// errors from native jobs are re-created here with the stack of the call that
// started the job (the native side has no JavaScript stack to give).

export class SpoError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller passed something the engine cannot use (wrong type, shape, NaN, range). */
export class InvalidArgumentError extends SpoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_SPO_INVALID_ARGUMENT', options);
  }
}

/** The operation was aborted through its AbortSignal. Name and code match Node's own AbortError. */
export class AbortError extends SpoError {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, 'ABORT_ERR', options);
    this.name = 'AbortError';
  }
}

/** A method was called on a handle after dispose(). */
export class DisposedError extends SpoError {
  constructor(message: string) {
    super(message, 'ERR_SPO_DISPOSED');
  }
}

/** libtorch refused an operation (its own checks: shapes, devices, allocation on a device). */
export class TorchError extends SpoError {
  constructor(message: string) {
    super(message, 'ERR_SPO_TORCH');
  }
}

/** Host memory ran out inside the engine. */
export class OutOfMemoryError extends SpoError {
  constructor(message: string) {
    super(message, 'ERR_SPO_OUT_OF_MEMORY');
  }
}

/** A file, directory or key that should exist does not. */
export class NotFoundError extends SpoError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_SPO_NOT_FOUND', options);
  }
}

/** A NaN or Inf in a loss, gradient or latent stopped the computation (the last checkpoint is intact). */
export class NumericError extends SpoError {
  constructor(message: string) {
    super(message, 'ERR_SPO_NUMERIC');
  }
}

/** Valid input the engine does not handle (for example CUDA tensors in a CPU-only build). */
export class UnsupportedError extends SpoError {
  constructor(message: string) {
    super(message, 'ERR_SPO_UNSUPPORTED');
  }
}

/** A broken invariant inside the engine: please report it. */
export class InternalError extends SpoError {
  constructor(message: string) {
    super(message, 'ERR_SPO_INTERNAL');
  }
}

const byCode: Record<string, (message: string) => SpoError> = {
  ERR_SPO_INVALID_ARGUMENT: (m) => new InvalidArgumentError(m),
  ABORT_ERR: (m) => new AbortError(m),
  ERR_SPO_DISPOSED: (m) => new DisposedError(m),
  ERR_SPO_TORCH: (m) => new TorchError(m),
  ERR_SPO_OUT_OF_MEMORY: (m) => new OutOfMemoryError(m),
  ERR_SPO_UNSUPPORTED: (m) => new UnsupportedError(m),
  ERR_SPO_INTERNAL: (m) => new InternalError(m),
  ERR_SPO_NOT_FOUND: (m) => new NotFoundError(m),
  ERR_SPO_NUMERIC: (m) => new NumericError(m),
};

/** Where a public call came from, captured synchronously at its start. */
export type CallSite = { stack: string };

export function captureCallSite(from: Function): CallSite {
  const site = { stack: '' };
  Error.captureStackTrace(site, from);
  return site;
}

/**
 * Turns whatever a native call threw into a typed SpoError. Errors thrown by
 * the caller's own callbacks (for example onProgress) pass through unchanged.
 */
export function toSpoError(e: unknown, site?: CallSite, signal?: AbortSignal): unknown {
  if (e instanceof SpoError) return e;
  if (!(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string' || !(code in byCode)) return e;
  const typed = byCode[code]!(e.message);
  if (typed instanceof AbortError && signal?.aborted) {
    Object.defineProperty(typed, 'cause', { value: signal.reason, enumerable: false, configurable: true });
  }
  if (site) {
    const frames = site.stack.split('\n').slice(1).join('\n');
    typed.stack = `${typed.name}: ${typed.message}\n${frames}`;
  }
  return typed;
}

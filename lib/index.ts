export { DDIMScheduler } from './models/scheduler';
export type {
  BetaSchedule, DDIMSchedulerConfig, GaussianSampleOptions, GaussianSampleResult, PredictionType, StepInput,
  StepOutput, TimestepSpacing,
} from './models/scheduler';
export { Tokenizer } from './models/tokenizer';
export type { TokenizerInfo } from './models/tokenizer';
export { tensor, numel } from './runtime/tensor';
export type { Tensor } from './runtime/tensor';
export type { JobOptions, Progress } from './runtime/jobs';
export { buildInfo } from './runtime/runtime';
export type { BuildInfo } from './runtime/runtime';
export {
  AbortError, DisposedError, InternalError, InvalidArgumentError, NotFoundError, NumericError, OutOfMemoryError, SpoError,
  TorchError, UnsupportedError,
} from './runtime/errors';
export { diagnostics } from './runtime/diagnostics';
export * from './models/models';
export * from './models/pipeline';
export * from './training/step-scorer';
export * from './models/evaluator';
export * from './training/pairs';
export * from './training/trainer';
export * from './training/baselines';
export * from './bench/bench';
// The shapes world is its own entry point, spo-diffusion/world (lib/world/).

export { DDIMScheduler } from './scheduler';
export type {
  BetaSchedule, DDIMSchedulerConfig, GaussianSampleOptions, GaussianSampleResult, PredictionType, StepInput,
  StepOutput, TimestepSpacing,
} from './scheduler';
export { Tokenizer } from './tokenizer';
export type { TokenizerInfo } from './tokenizer';
export { tensor, numel } from './tensor';
export type { Tensor } from './tensor';
export type { JobOptions, Progress } from './jobs';
export { buildInfo } from './runtime';
export type { BuildInfo } from './runtime';
export {
  AbortError, DisposedError, InternalError, InvalidArgumentError, NotFoundError, NumericError, OutOfMemoryError, SpoError,
  TorchError, UnsupportedError,
} from './errors';
export { diagnostics } from './diagnostics';
export * from './models';
export * from './pipeline';
export * from './step-scorer';
export * from './evaluator';
export * from './pairs';
export * from './trainer';
export * from './baselines';
export * from './bench';
// The shapes world is its own entry point, spo-diffusion/world (lib/world/).

// The benchmark harness's engine side: one native job measures the ceiling,
// the components, the update (default vs parity), the fused kernels and an SPO
// round on a loaded Pipeline and Evaluator (native/core/bench/harness.h).
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { Evaluator } from '../models/evaluator';
import { runJob, type JobOptions } from '../runtime/jobs';
import { native } from '../native/native';
import { withoutUndefined } from '../native/native-args';
import { Pipeline } from '../models/pipeline';
import type { SpoSettings } from '../training/trainer';

export type BenchSection = 'ceiling' | 'components' | 'update' | 'kernels' | 'round';

export interface BenchRequest {
  pipeline: Pipeline;
  evaluator: Evaluator;
  /**
   * A latent evaluator (kind 'latent-step-aware', e.g. Evaluator.createLatent): the round section
   * then runs the same round scored by it as well (round.latent). Random weights time alike.
   */
  latentEvaluator?: Evaluator;
  /** The batch of prompts (its size is every component's batch). */
  prompts: string[];
  /** The SPO configuration of the round and the update (a preset plus overrides). */
  settings?: Partial<SpoSettings>;
  warmup?: number;
  reps?: number;
  sections?: BenchSection[];
}

export interface Timing {
  min_s: number;
  median_s: number;
  /** (max - min) / median. */
  spread: number;
  reps: number;
  seconds: number[];
}

/** The phases a round's time is split into, the same for the engine and the Python baseline. */
export const BENCH_PHASES = ['text encoding', 'candidate UNet calls', 'x0 calls', 'VAE decode', 'evaluator',
  'update forwards', 'backward', 'optimizer step', 'other'] as const;
export type BenchPhase = (typeof BENCH_PHASES)[number];

/** One span's time by phase: the seconds add up to total_s ('other' is the time outside every named phase). */
export interface PhaseProfile {
  seconds: Record<BenchPhase, number>;
  /** Entries into each named phase (UNet calls, decodes, scorer calls, minibatches). */
  calls: Partial<Record<BenchPhase, number>>;
  total_s: number;
}

/** Where a round's time goes: its sampling and its update over the kept pairs. */
export interface RoundProfile {
  sampling: PhaseProfile;
  update: PhaseProfile;
}

/** Python baseline seconds / engine seconds, on the same weights in one run (> 1: the engine is faster). */
export interface BenchRatios {
  /** The sampling round. */
  sampling: number;
  /** The round's update over its kept pairs (forwards, backward, optimizer steps). */
  update: number;
  /** Sampling and update together. */
  round: number;
}

// The report keeps the harness's JSON names (snake_case, seconds as *_s): it is the
// format `spo bench --json` writes, bench/python_baseline.py mirrors and
// `spo bench --compare` reads from earlier runs (docs/benchmarks.md).

/** Where the benchmark ran. */
export interface BenchMachine {
  device: string;
  dtype: string;
  intra_op_threads: number;
}

/** The machine's measured matmul ceiling, and a 3x3 convolution's rate. */
export interface BenchCeiling {
  best_gflops: number;
  dtype: string;
  sizes: { n: number; gflops: number; time: Timing }[];
  conv3x3: { shape: string; gflops: number; time: Timing };
  /** What the ceiling is measured as. */
  note: string;
  /** CUDA only: fp32 at::mm at 8192, beside the pipeline dtype's best. */
  fp32_mm_8192_gflops?: number;
}

/** One model component's forward at the request's batch. */
export interface BenchComponent {
  name: string;
  batch: number;
  time: Timing;
  gflop: number;
  gflops: number;
  share_of_ceiling: number;
  /** What the FLOP count covers. */
  flops_counted: string;
  /** CUDA only. */
  peak_device_bytes?: number;
}

/** One side of the update comparison: the engine's default path or the authors' parity path. */
export interface BenchUpdateSide {
  time: Timing;
  policy_evaluations: number;
  reference_evaluations: number;
  evaluations_per_pair: number;
}

/** One optimiser step, with and without gradient checkpointing. */
export interface BenchOptimizerStep {
  gradient_checkpointing: boolean;
  time: Timing;
  model_gflop: number;
  gflops: number;
  share_of_ceiling: number;
  /** CUDA only. */
  peak_device_bytes?: number;
  live_device_bytes_before?: number;
}

/** The update section; only `skipped` when the sampling round kept no pair. */
export interface BenchUpdate {
  skipped?: string;
  pairs?: number;
  default?: BenchUpdateSide;
  parity?: BenchUpdateSide;
  speedup_vs_parity?: number;
  optimizer_step?: { pairs: number; variants: BenchOptimizerStep[]; lora_dtype: string; flops_counted: string };
}

/** A fused kernel against its ATen composition, forward and backward. */
export interface BenchKernel {
  name: string;
  shape: number[];
  fused: Timing;
  aten: Timing;
  speedup: number;
}

/** One round's figures, as the harness writes them for either evaluator. */
export interface BenchRoundFigures {
  sampling_s: number;
  update_s: number;
  pairs_kept: number;
  pairs_tied: number;
  sampling_evaluations: number;
  update_evaluations: number;
  sampling_evaluations_per_kept_pair: number;
  update_evaluations_per_kept_pair: number;
  pairs_per_second: number;
  profile: RoundProfile;
}

/**
 * The same round scored by the latent evaluator (no x0 calls, no VAE decode, no pixel CLIP while
 * sampling). Ratios are seconds of the other side / the latent round's seconds (> 1: the latent round is faster).
 */
export interface BenchLatentRound extends BenchRoundFigures {
  round_s: number;
  /** The engine's pixel round (sampling + update) against this one. */
  latent_round_vs_engine_pixel: number;
  /** Added by `spo bench` when the Python baseline ran: its pixel round against this one. */
  latent_round_vs_python?: number;
  latent_sampling_vs_python?: number;
  latent_update_vs_python?: number;
}

/** The round section as the harness writes it: the pixel evaluator's round, and the latent one's when asked for. */
export interface BenchRound extends BenchRoundFigures {
  prompts: number;
  k: number;
  steps: number;
  peak_rss_bytes: number;
  /** CUDA only. */
  sampling_peak_device_bytes?: number;
  peak_device_bytes?: number;
  latent?: BenchLatentRound;
}

/** The Python baseline's round (bench/python_baseline.py). */
export interface PythonBaselineRound {
  prompts: number;
  k: number;
  steps: number;
  sampling: Timing;
  update_s: number;
  pairs: number;
  profile: RoundProfile;
}

/** What bench/python_baseline.py reports, or why it did not run. */
export interface PythonBaselineReport {
  skipped?: string;
  torch?: string;
  threads?: number;
  update_unet_calls_per_minibatch?: number;
  /** The update step on the same pairs. */
  update?: Timing;
  pairs?: number;
  round?: PythonBaselineRound;
}

/**
 * The report: runBenchmark fills machine, settings and the sections asked for
 * (see docs/benchmarks.md); `spo bench` adds the models, command, date, the
 * Python baseline and the ratios.
 */
export interface BenchReport {
  machine: BenchMachine;
  /** The resolved SPO settings of the round and the update. */
  settings: SpoSettings;
  ceiling?: BenchCeiling;
  components?: BenchComponent[];
  update?: BenchUpdate;
  kernels?: BenchKernel[];
  round?: BenchRound;
  models?: { model: string; evaluator: string };
  command?: string;
  date?: string;
  python_baseline?: PythonBaselineReport;
  ratios?: BenchRatios;
}

/** The ratios of a round measured by the engine and by the Python baseline. */
export function benchRatios(engine: { sampling_s: number; update_s: number },
  python: { sampling_s: number; update_s: number }): BenchRatios {
  for (const [side, times] of [['engine', engine], ['python', python]] as const) {
    for (const name of ['sampling_s', 'update_s'] as const) {
      const v = times[name];
      if (!(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`benchRatios: ${side} ${name} must be a positive number of seconds`);
    }
  }
  return {
    sampling: python.sampling_s / engine.sampling_s,
    update: python.update_s / engine.update_s,
    round: (python.sampling_s + python.update_s) / (engine.sampling_s + engine.update_s),
  };
}

export async function runBenchmark(request: BenchRequest, options?: JobOptions): Promise<BenchReport> {
  const site = captureCallSite(runBenchmark);
  if (typeof request !== 'object' || request === null) throw new InvalidArgumentError('the bench request must be an object');
  if (!(request.pipeline instanceof Pipeline)) throw new InvalidArgumentError('request.pipeline must be a loaded Pipeline');
  if (!(request.evaluator instanceof Evaluator)) throw new InvalidArgumentError('request.evaluator must be a loaded Evaluator');
  const { latentEvaluator, ...rest } = request;
  if (latentEvaluator !== undefined && !(latentEvaluator instanceof Evaluator && latentEvaluator.kind === 'latent-step-aware')) {
    throw new InvalidArgumentError("request.latentEvaluator must be an Evaluator of kind 'latent-step-aware'");
  }
  const args = withoutUndefined({
    ...rest, pipeline: request.pipeline.nativeHandle(), evaluator: request.evaluator.nativeHandle(),
    latentScorer: latentEvaluator?.nativeStepScorer(),
  });
  return runJob(site, options, (token, progress) => native().runBenchmark(args, token, progress));
}

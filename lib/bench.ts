// The benchmark harness's engine side: one native job measures the ceiling,
// the components, the update (default vs parity), the fused kernels and an SPO
// round on a loaded Pipeline and Evaluator (native/core/bench/harness.h).
import { InvalidArgumentError, captureCallSite } from './errors';
import { Evaluator } from './evaluator';
import { runJob, type JobOptions } from './jobs';
import { native } from './native';
import { withoutUndefined } from './native-args';
import { Pipeline } from './pipeline';
import type { SpoSettings } from './trainer';

export type BenchSection = 'ceiling' | 'components' | 'update' | 'kernels' | 'round';

export interface BenchRequest {
  pipeline: Pipeline;
  evaluator: Evaluator;
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

/** The report as the harness writes it (see docs in README "Benchmarks"). */
export type BenchReport = Record<string, unknown>;

export async function runBenchmark(request: BenchRequest, options?: JobOptions): Promise<BenchReport> {
  const site = captureCallSite(runBenchmark);
  if (typeof request !== 'object' || request === null) throw new InvalidArgumentError('the bench request must be an object');
  if (!(request.pipeline instanceof Pipeline)) throw new InvalidArgumentError('request.pipeline must be a loaded Pipeline');
  if (!(request.evaluator instanceof Evaluator)) throw new InvalidArgumentError('request.evaluator must be a loaded Evaluator');
  const args = withoutUndefined({
    ...request, pipeline: request.pipeline.nativeHandle(), evaluator: request.evaluator.nativeHandle(),
  });
  return runJob(site, options, (token, progress) => native().runBenchmark(args, token, progress));
}

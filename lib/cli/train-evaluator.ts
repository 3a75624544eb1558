// `spo train-evaluator`: trains a step-aware preference model on a pairs file
// (docs/method.md §4) over a base pipeline's x0 predictions, with a progress
// bar, checkpoints that resume, and the accuracy report at the end.
// With --nproc N (or --nnodes) it launches N data-parallel rank processes of
// itself (launch.ts, as `spo train` does): every step's global batch is
// --batch-size x N pairs, split between the ranks; only rank 0 shows
// progress, validates, checkpoints and writes the model.
import { SingleBar } from 'cli-progress';
import { Evaluator, type TimeConditioning } from '../models/evaluator';
import { readPairs } from '../training/pairs';
import { Pipeline } from '../models/pipeline';
import { joinRanks, launchRanks, launchesRanks, type RankCliOptions } from './rank-process';
import type { Device, DType } from '../runtime/device';

/** --batch-size is per rank in a data-parallel run. */
export interface TrainEvaluatorOptions extends RankCliOptions {
  evaluator: string;
  model: string;
  pairs: string;
  validation?: string;
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  warmup: number;
  maxGradNorm: number;
  guidance: number;
  seed: number;
  validateEvery: number;
  checkpointDir?: string;
  checkpointEvery: number;
  timeConditioning?: TimeConditioning;
  device: Device;
  dtype: DType;
}

export async function runTrainEvaluator(opts: TrainEvaluatorOptions, signal?: AbortSignal): Promise<number> {
  if (launchesRanks(opts)) return launchRanks(opts, signal);
  const { distributed, quiet, stopOrphanCheck, ...rank } = joinRanks(opts, signal);
  signal = rank.signal;
  const train = await readPairs(opts.pairs, { signal });
  const validation = opts.validation === undefined ? undefined : await readPairs(opts.validation, { signal });
  const pipeline = await Pipeline.load(opts.model, { device: opts.device, dtype: opts.dtype, signal });
  const evaluator = await Evaluator.load(opts.evaluator, {
    device: opts.device, timeConditioning: opts.timeConditioning ?? 'step-aware', signal,
  });
  const bar = new SingleBar({
    format: 'training [{bar}] {value}/{total} steps | loss {loss} | lr {lr}',
    stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, hideCursor: false,
  });
  try {
    if (!quiet) bar.start(opts.steps, 0, { loss: '-', lr: '-' });
    const result = await evaluator.train({
      pipeline, train, validation, steps: opts.steps, batchSize: opts.batchSize, learningRate: opts.lr,
      weightDecay: opts.weightDecay, warmupSteps: opts.warmup, maxGradNorm: opts.maxGradNorm,
      guidanceScale: opts.guidance, seed: opts.seed, validateEvery: opts.validateEvery,
      checkpointDir: opts.checkpointDir, checkpointEvery: opts.checkpointEvery,
      ...(distributed ? { distributed } : {}),
    }, {
      signal,
      onProgress: (p) => {
        if (p.stage === 'train' && !quiet) {
          bar.update(p.step, { loss: p.value.toFixed(4), lr: (p.metrics?.lr ?? 0).toExponential(2) });
        }
      },
    });
    bar.stop();
    if (quiet) {
      process.stdout.write(`rank ${result.rank}/${result.worldSize}: steps ${result.stepsDone}\n`);
      return 0;
    }
    if (result.startStep > 0) process.stderr.write(`resumed from step ${result.startStep}\n`);
    await evaluator.save(opts.out, { signal });
    for (const report of result.validations) {
      process.stdout.write(`validation after step ${report.step} (${report.pairs} non-tie pairs)\n`);
      report.timesteps.forEach((t, i) => process.stdout.write(`  t=${String(t).padStart(3)}  accuracy ${report.accuracy[i]!.toFixed(3)}\n`));
    }
    process.stdout.write(`saved ${opts.out}\n`);
    return 0;
  } finally {
    stopOrphanCheck();
    bar.stop();
    evaluator.dispose();
    pipeline.dispose();
  }
}

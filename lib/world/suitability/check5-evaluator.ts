// Check 5, the step-aware evaluator's accuracy on held-out decided pairs:
// >= 0.8 on clean images (t = 0), >= 0.65 at t = 251 and t = 501
// (docs/SHAPES_WORLD.md). Read from the folder's report.json when pretraining
// recorded it (its validation pairs: base samples of validation prompts, judged,
// ties dropped); otherwise, or with `measure`, measured the same way here.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Evaluator } from '../../models/evaluator';
import type { PreferencePair } from '../../training/pairs';
import { Pipeline } from '../../models/pipeline';
import { sampleAndJudge } from '../evaluation';
import { readWorldPretrainingReport } from '../pretraining-report';
import { JUDGE_TIE_MARGIN } from '../world';
import { atLeast, reported, type CheckResult, type Figure } from './report';

export const TIMESTEPS = [0, 251, 501] as const;
const BOUNDS: Record<number, number> = { 0: 0.8, 251: 0.65, 501: 0.65 };

/** Pair accuracy by timestep, and the number of pairs it was read on. */
export interface EvaluatorAccuracy {
  accuracy: Record<number, number>;
  pairs: number;
}

/** accuracy: { [t]: value }; the figures against the criteria. */
export function evaluatorFigures(accuracy: Record<number, number>, pairs: number): Figure[] {
  return [
    ...TIMESTEPS.map((t) => atLeast(`accuracy on held-out decided pairs at t = ${t}${t === 0 ? ' (clean)' : ''}`,
      accuracy[t]!, BOUNDS[t]!)),
    reported('held-out decided pairs', pairs),
  ];
}

/** The step-aware evaluator's accuracies as pretraining recorded them in assets/report.json, or undefined. */
export function accuracyFromReport(assets: string): EvaluatorAccuracy | undefined {
  if (!existsSync(path.join(assets, 'report.json'))) return undefined;
  const after = readWorldPretrainingReport(assets).evaluatorStepAware?.after;
  if (!after) return undefined;
  const accuracy: Record<number, number> = {};
  for (const t of TIMESTEPS) {
    const i = after.timesteps.indexOf(t);
    if (i < 0) return undefined;
    accuracy[t] = after.accuracy[i]!;
  }
  return { accuracy, pairs: after.pairs };
}

/** Judge-labelled pairs of two base samples per prompt, ties dropped (pretraining's rule). */
async function decidedPairs(pipeline: Pipeline, prompts: string[], seed: number,
  sampling: { steps: number; guidanceScale: number; eta: number }): Promise<PreferencePair[]> {
  const a = await sampleAndJudge(pipeline, prompts, { ...sampling, seed, track: 'scenes', batch: 50 });
  const b = await sampleAndJudge(pipeline, prompts, { ...sampling, seed: seed + 1000, track: 'scenes', batch: 50 });
  return prompts.flatMap((prompt, i): PreferencePair[] => {
    const d = a.scores[i]!.total - b.scores[i]!.total;
    return Math.abs(d) <= JUDGE_TIE_MARGIN ? [] : [{ prompt, image0: a.images[i]!, image1: b.images[i]!, label: d > 0 ? 0 : 1 }];
  });
}

export interface EvaluatorCheckOptions {
  assets: string;
  prompts: string[];
  /** Measure even when report.json has the figures. */
  measure?: boolean;
  seed?: number;
  steps: number;
  guidanceScale: number;
}

export async function checkEvaluator({ assets, prompts, measure = false, seed = 5000, steps, guidanceScale }:
  EvaluatorCheckOptions): Promise<CheckResult> {
  const started = performance.now();
  let found = measure ? undefined : accuracyFromReport(assets);
  let source = 'report.json: pretraining\'s held-out validation pairs, after training';
  if (found === undefined) {
    source = `measured here: 2 base samples x ${prompts.length} validation prompts, decided pairs`;
    const pipeline = await Pipeline.load(path.join(assets, 'base'));
    const evaluator = await Evaluator.load(path.join(assets, 'evaluator-step-aware'));
    try {
      const pairs = await decidedPairs(pipeline, prompts, seed, { steps, guidanceScale, eta: 1 });
      if (pairs.length === 0) throw new Error('check 5: every pair tied; no decided pair to measure on');
      const v = await evaluator.validate({ pipeline, pairs, timesteps: [...TIMESTEPS], guidanceScale, seed });
      found = { accuracy: Object.fromEntries(v.timesteps.map((t, i) => [t, v.accuracy[i]!])), pairs: v.pairs };
    } finally {
      evaluator.dispose();
      pipeline.dispose();
    }
  }
  return {
    check: 5, title: 'the step-aware evaluator on held-out decided pairs',
    figures: evaluatorFigures(found.accuracy, found.pairs), notes: [`source: ${source}`],
    seconds: (performance.now() - started) / 1000,
  };
}

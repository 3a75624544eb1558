// Check 5, the step-aware evaluator's accuracy on held-out decided pairs:
// >= 0.8 on clean images (t = 0), >= 0.65 at t = 251 and t = 501
// (docs/SHAPES_WORLD.md). Read from the folder's report.json when pretraining
// recorded it (its validation pairs: base samples of validation prompts, judged,
// ties dropped); otherwise, or with `measure`, measured the same way here.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { spo, world } from './api.mjs';
import { atLeast, reported } from './report.mjs';

export const TIMESTEPS = [0, 251, 501];
const BOUNDS = { 0: 0.8, 251: 0.65, 501: 0.65 };

/** accuracy: { [t]: value }; the figures against the criteria. */
export function evaluatorFigures(accuracy, pairs) {
  return [
    ...TIMESTEPS.map((t) => atLeast(`accuracy on held-out decided pairs at t = ${t}${t === 0 ? ' (clean)' : ''}`,
      accuracy[t], BOUNDS[t])),
    reported('held-out decided pairs', pairs),
  ];
}

/** The step-aware evaluator's accuracies as pretraining recorded them, or undefined. */
export function accuracyFromReport(assets) {
  const file = path.join(assets, 'report.json');
  if (!existsSync(file)) return undefined;
  const after = JSON.parse(readFileSync(file, 'utf8'))['evaluator-step-aware']?.after;
  if (!after || TIMESTEPS.some((t) => typeof after.accuracy?.[String(t)] !== 'number')) return undefined;
  return { accuracy: Object.fromEntries(TIMESTEPS.map((t) => [t, after.accuracy[String(t)]])), pairs: after.pairs };
}

/** Judge-labelled pairs of two base samples per prompt, ties dropped (pretraining's rule). */
async function decidedPairs(pipeline, prompts, seed, sampling) {
  const a = await world.sampleAndJudge(pipeline, prompts, { ...sampling, seed, track: 'scenes', batch: 50 });
  const b = await world.sampleAndJudge(pipeline, prompts, { ...sampling, seed: seed + 1000, track: 'scenes', batch: 50 });
  return prompts.flatMap((prompt, i) => {
    const d = a.scores[i].total - b.scores[i].total;
    return Math.abs(d) <= world.JUDGE_TIE_MARGIN ? [] : [{ prompt, image0: a.images[i], image1: b.images[i], label: d > 0 ? 0 : 1 }];
  });
}

export async function checkEvaluator({ assets, prompts, measure = false, seed = 5000, steps, guidanceScale }) {
  const started = performance.now();
  let found = measure ? undefined : accuracyFromReport(assets);
  let source = 'report.json: pretraining\'s held-out validation pairs, after training';
  if (found === undefined) {
    source = `measured here: 2 base samples x ${prompts.length} validation prompts, decided pairs`;
    const pipeline = await spo.Pipeline.load(path.join(assets, 'base'));
    const evaluator = await spo.Evaluator.load(path.join(assets, 'evaluator-step-aware'));
    try {
      const pairs = await decidedPairs(pipeline, prompts, seed, { steps, guidanceScale, eta: 1 });
      if (pairs.length === 0) throw new Error('check 5: every pair tied; no decided pair to measure on');
      const v = await evaluator.validate({ pipeline, pairs, timesteps: TIMESTEPS, guidanceScale, seed });
      found = { accuracy: Object.fromEntries(v.timesteps.map((t, i) => [t, v.accuracy[i]])), pairs: v.pairs };
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

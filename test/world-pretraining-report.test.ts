// pretrainWorld's typed report: the engine's report.json (stage names as keys,
// accuracies keyed by timestep) read into camelCase fields and arrays. Checked
// on the shipped models' report.json, value by value against the raw JSON, and
// on a hand-written report with the stages the shipped one lacks (bands, rollout pairs).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readWorldPretrainingReport, shapesWorldAssets, toWorldPretrainingReport } from '../dist/world/index.js';

describe('the pretraining report, typed', () => {
  it('reads the shipped report.json: every stage under its camelCase name, accuracies as ascending arrays', () => {
    const raw = JSON.parse(readFileSync(path.join(shapesWorldAssets(), 'report.json'), 'utf8'));
    const r = readWorldPretrainingReport(shapesWorldAssets());
    expect(Object.keys(r).sort()).toEqual(['baseSamples', 'clip', 'diffusion', 'evaluatorPlain', 'evaluatorStepAgnostic',
      'evaluatorStepAware', 'pairs', 'scale', 'seed', 'vae']);
    expect(r.seed).toBe(raw.seed);
    expect(r.vae!.scalingFactor).toBe(raw.vae.scalingFactor);
    expect(r.diffusion).toEqual(raw.diffusion);
    expect(r.baseSamples!.judge.total).toBe(raw['base-samples'].judge.total);
    expect(r.clip!.retrievalAccuracy64).toBe(raw.clip['retrievalAccuracy@64']);
    expect(r.clip).not.toHaveProperty('retrievalAccuracy@64');
    const aware = r.evaluatorStepAware!;
    expect(aware.after!.timesteps).toEqual([0, 251, 501, 701, 951]);
    expect(aware.after!.accuracy).toEqual([0, 251, 501, 701, 951].map((t) => raw['evaluator-step-aware'].after.accuracy[String(t)]));
    expect(aware.before.pairs).toBe(raw['evaluator-step-aware'].before.pairs);
    expect(r.evaluatorPlain!.after!.timesteps).toEqual([0]);
    expect(r.evaluatorPlain!.clean).toBe(true);
  });

  it("reads the shipped scenes report.json: the rollout pairs, the rollout evaluators' bands, no noisy-pair step-agnostic stage", () => {
    const dir = shapesWorldAssets('scenes');
    const raw = JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
    const r = readWorldPretrainingReport(dir);
    expect(Object.keys(r).sort()).toEqual(['baseSamples', 'clip', 'diffusion', 'evaluatorPlain', 'evaluatorRollout',
      'evaluatorRolloutAgnostic', 'evaluatorStepAware', 'pairs', 'rolloutPairs', 'scale', 'seed', 'vae']);
    // The report is the stage records, each as its stages/<name>.json holds it.
    for (const name of ['vae', 'diffusion', 'base-samples', 'pairs', 'clip', 'evaluator-plain', 'evaluator-step-aware',
      'rollout-pairs', 'evaluator-rollout', 'evaluator-rollout-agnostic']) {
      expect(raw[name], name).toEqual(JSON.parse(readFileSync(path.join(dir, 'stages', `${name}.json`), 'utf8')));
    }
    expect(r.rolloutPairs!.train - r.rolloutPairs!.trainTies).toBe(r.evaluatorRollout!.trainPairs);
    expect(r.evaluatorRollout!.bands!.map((b) => [b.lo, b.hi])).toEqual([[0, 0], [1, 299], [300, 599], [600, 999]]);
    expect(r.evaluatorRollout!.after!.accuracy[0]).toBe(raw['evaluator-rollout'].after.accuracy['0']);
    // The step-agnostic twin: the same decided pairs, steps and rate.
    const twin = r.evaluatorRolloutAgnostic!;
    expect([twin.trainPairs, twin.steps, twin.learningRate]).toEqual([r.evaluatorRollout!.trainPairs, r.evaluatorRollout!.steps,
      r.evaluatorRollout!.learningRate]);
    expect(twin.after!.accuracy[0]).toBe(raw['evaluator-rollout-agnostic'].after.accuracy['0']);
  });

  it('bands of t and the rollout pairs: keys t<lo>-<hi> become bounds, in ascending order; a null accuracy stays null', () => {
    const acc = (a: number) => ({ pairs: 10, accuracy: { 0: a } });
    const r = toWorldPretrainingReport({
      seed: 2, scale: 0.01,
      'evaluator-rollout': {
        steps: 3, clean: true, finalLoss: 0.5, before: { pairs: 10, accuracy: { 501: 0.4, 51: 0.6 } },
        bands: { 't300-599': { before: acc(0.5), after: acc(0.7) }, 't1-299': { before: acc(0.25), after: acc(0.75) } },
      },
      'rollout-pairs': {
        train: 40, trainTies: 30, validation: 8, validationTies: 6, groups: 4, tieMargin: 0.02, k: 4, steps: 20,
        judgeReadsX0: { 't600-999': { pairs: 0, accuracy: null }, 't1-299': { pairs: 12, accuracy: 0.75 } },
      },
    });
    expect(r.evaluatorRollout!.before).toEqual({ pairs: 10, timesteps: [51, 501], accuracy: [0.6, 0.4] });
    expect(r.evaluatorRollout!.after).toBeUndefined();
    expect(r.evaluatorRollout!.bands).toEqual([
      { lo: 1, hi: 299, before: { pairs: 10, timesteps: [0], accuracy: [0.25] }, after: { pairs: 10, timesteps: [0], accuracy: [0.75] } },
      { lo: 300, hi: 599, before: { pairs: 10, timesteps: [0], accuracy: [0.5] }, after: { pairs: 10, timesteps: [0], accuracy: [0.7] } },
    ]);
    expect(r.rolloutPairs!.judgeReadsX0).toEqual([{ lo: 1, hi: 299, pairs: 12, accuracy: 0.75 }, { lo: 600, hi: 999, pairs: 0, accuracy: null }]);
    expect(r.rolloutPairs!.k).toBe(4);
    expect(Object.keys(r).sort()).toEqual(['evaluatorRollout', 'rolloutPairs', 'scale', 'seed']);
    expect(() => toWorldPretrainingReport({ seed: 1, scale: 1, 'rollout-pairs': { judgeReadsX0: { late: {} } } }))
      .toThrow(/band 'late' is not t<lo>-<hi>/);
  });
});

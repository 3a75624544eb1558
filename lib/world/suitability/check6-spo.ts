// Check 6, SPO with the rollout oracle (judge v2 on where each candidate ends)
// against the base model and against D3PO at the same number of UNet
// evaluations, judged on validation prompts (paired: the same prompts and
// sampling seeds for every model). Criterion (docs/SHAPES_WORLD.md): SPO beats
// the base beyond its 95% paired interval, and by at least as much as D3PO.
//
// UNet evaluations are the engine's unit: one guided evaluation of one latent
// (the classifier-free pair counts once), sampling and update together (the
// Trainer's samplingEvaluations + updateEvaluations; update forwards with or
// without gradient alike, backward passes not counted). The rollout oracle's
// continuations run inside the scorer, which the engine's count leaves out, so
// they are added here: at branch step i every one of the P x k candidates is
// continued by the n - 1 - i steps left, (n - 1 - d)(n - d) / 2 per candidate
// and round over branch steps i = d .. n - 1 (rolloutEvaluations).
// D3PO (two trajectories from a shared x_T, every step trained, the judge's
// verdict on the two final images; no divert start, no tie threshold) runs whole
// rounds until its count reaches SPO's, so it gets at least SPO's budget.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pipeline } from '../../models/pipeline';
import { Trainer, resolveSettings, type SpoSettings, type TrainerEvent } from '../../training/trainer';
import { formatSignedInterval, sampleAndJudge } from '../evaluation';
import { WorldJudgeScorer } from '../judge-scorer';
import { SHAPES_WORLD_SPO } from '../world';
import { PARTS, type CheckedPart, type PartScores } from './parts';
import { above, atLeast, reported, type CheckResult, type Figure } from './report';
import { mean, pairedInterval } from './stats';

/** The settings rolloutEvaluations reads. */
export interface RolloutCountSettings {
  steps: number;
  divertStartStep: number;
  k: number;
  sampleBatchSize: number;
  transitionsPerChain?: number;
}

/** The rollout oracle's guided evaluations in `rounds` SPO rounds (transitionsPerChain 1). */
export function rolloutEvaluations({ steps, divertStartStep, k, sampleBatchSize, transitionsPerChain = 1 }: RolloutCountSettings,
  rounds: number): number {
  if (transitionsPerChain !== 1) throw new Error('rolloutEvaluations counts single-transition branches (transitionsPerChain 1) only');
  const perCandidate = ((steps - 1 - divertStartStep) * (steps - divertStartStep)) / 2;
  return rounds * sampleBatchSize * k * perCandidate;
}

/** Guided UNet evaluations of a training run, by where they were spent. */
export interface EvaluationCount {
  sampling: number;
  rollout: number;
  update: number;
  all: number;
}

/** Guided evaluations per round, from the Trainer's events (sampling and update). */
function countPerRound(counts: Map<number, number>) {
  return (e: TrainerEvent) => {
    if (e.type === 'pairs') counts.set(e.round, (counts.get(e.round) ?? 0) + e.samplingEvaluations);
    if (e.type === 'update') counts.set(e.round, (counts.get(e.round) ?? 0) + e.policyEvaluations + e.referenceEvaluations);
  };
}

type Settings = Partial<SpoSettings> & RolloutCountSettings;

interface TrainedModel {
  pipeline: Pipeline;
  rounds: number;
  pairs: number;
  seconds: number;
  evaluations: EvaluationCount;
}

async function trainSpo({ assets, prompts, settings, rounds }: { assets: string; prompts: string[]; settings: Settings;
  rounds: number }): Promise<TrainedModel> {
  const started = performance.now();
  const pipeline = await Pipeline.load(path.join(assets, 'base'));
  const r = await new Trainer({
    pipeline, evaluator: new WorldJudgeScorer(10, { rollout: true, track: 'scenes' }), prompts, ...settings, maxRounds: rounds,
  }).train();
  const rollout = rolloutEvaluations(settings, r.roundsDone);
  return {
    pipeline, rounds: r.roundsDone, pairs: r.pairsKept, seconds: (performance.now() - started) / 1000,
    evaluations: { sampling: r.samplingEvaluations, rollout, update: r.updateEvaluations,
      all: r.samplingEvaluations + rollout + r.updateEvaluations },
  };
}

/** D3PO in whole rounds until its evaluations reach `budget` (resumed from its checkpoints, a fresh pipeline each call). */
async function trainD3poToBudget({ assets, prompts, settings, budget }: { assets: string; prompts: string[]; settings: Settings;
  budget: number }): Promise<TrainedModel & { mostPerRound: number }> {
  const started = performance.now();
  const checkpointDir = mkdtempSync(path.join(os.tmpdir(), 'spo-suitability-d3po-'));
  const counts = new Map<number, number>();
  let pipeline: Pipeline | undefined, rounds = 0, pairs = 0, sampling = 0, update = 0;
  try {
    while (sampling + update < budget) {
      const most = Math.max(0, ...counts.values());
      const chunk = most === 0 ? 1 : Math.max(1, Math.floor((budget - sampling - update) / most));
      pipeline?.dispose();
      pipeline = await Pipeline.load(path.join(assets, 'base'));
      const r = await new Trainer({
        pipeline, evaluator: new WorldJudgeScorer(10, { track: 'scenes' }), prompts, ...settings,
        checkpointDir, maxRounds: rounds + chunk,
      }).train({ onEvent: countPerRound(counts) });
      if (r.roundsDone !== rounds + chunk) throw new Error(`D3PO stopped at round ${r.roundsDone}, not ${rounds + chunk}`);
      rounds = r.roundsDone;
      pairs += r.pairsKept;
      sampling += r.samplingEvaluations;
      update += r.updateEvaluations;
    }
  } catch (e) {
    pipeline?.dispose();
    throw e;
  } finally {
    rmSync(checkpointDir, { recursive: true, force: true });
  }
  if (!pipeline) throw new Error('check 6: D3PO ran no round (budget 0)');
  return {
    pipeline, rounds, pairs, seconds: (performance.now() - started) / 1000,
    evaluations: { sampling, rollout: 0, update, all: sampling + update }, mostPerRound: Math.max(...counts.values()),
  };
}

/** Per prompt, the mean of each part over `images` samples (seeds 1234, 1235, ...): the same for every model. */
async function judgeOn(pipeline: Pipeline, prompts: string[], images: number,
  sampling: { steps: number; guidanceScale: number }): Promise<PartScores[]> {
  const perPrompt: PartScores[] = prompts.map(() => ({ total: 0, alignment: 0, coarse: 0, fine: 0 }));
  for (let i = 0; i < images; ++i) {
    const { scores } = await sampleAndJudge(pipeline, prompts, {
      ...sampling, seed: 1234 + 1000 * i, eta: 1, track: 'scenes', batch: 50,
    });
    scores.forEach((s, p) => { for (const q of PARTS) perPrompt[p]![q] += s[q] / images; });
  }
  return perPrompt;
}

const show = formatSignedInterval;

/** The figures from per-prompt part means of the three models on the same prompts and seeds. */
export function spoFigures(base: readonly PartScores[], spoRun: readonly PartScores[], d3po: readonly PartScores[]): Figure[] {
  const column = (rows: readonly PartScores[], q: CheckedPart) => rows.map((r) => r[q]);
  const gain = (rows: readonly PartScores[], q: CheckedPart) => pairedInterval(column(base, q), column(rows, q));
  const spoGain = gain(spoRun, 'total'), d3poGain = gain(d3po, 'total');
  const figures = [
    above('SPO - base, total: lower end of the 95% paired interval', spoGain.mean - spoGain.half, 0),
    atLeast('(SPO - base) - (D3PO - base), total', spoGain.mean - d3poGain.mean, 0),
    reported('SPO - D3PO, total, 95% paired interval', show(pairedInterval(column(d3po, 'total'), column(spoRun, 'total')))),
  ];
  for (const q of PARTS) {
    figures.push(reported(`SPO - base, ${q}`, show(gain(spoRun, q))));
    figures.push(reported(`D3PO - base, ${q}`, show(gain(d3po, q))));
  }
  figures.push(reported('base total (mean over prompts)', mean(column(base, 'total'))));
  return figures;
}

export interface SpoCheckOptions {
  assets: string;
  /** Judged validation prompts. */
  prompts: string[];
  /** The prompts SPO and D3PO train on. */
  trainPrompts: string[];
  rounds?: number;
  /** Samples per prompt judged. */
  images?: number;
  learningRate?: number | undefined;
  threshold?: number | undefined;
  /** SPO settings over the world's preset for both methods and the judged samples (tests make it small). */
  overrides?: Partial<Settings>;
}

/** Check 6's result: its figures and the UNet evaluations each method spent. */
export interface SpoCheckResult extends CheckResult {
  evaluations: { spo: EvaluationCount; d3po: EvaluationCount; d3poMostPerRound: number };
}

export async function checkSpo({ assets, prompts, trainPrompts, rounds = 6, images = 2, learningRate, threshold, overrides = {} }:
  SpoCheckOptions): Promise<SpoCheckResult> {
  const started = performance.now();
  const preset: Settings = { ...SHAPES_WORLD_SPO, ...overrides };
  const sampling = { steps: preset.steps, guidanceScale: preset.guidanceScale ?? SHAPES_WORLD_SPO.guidanceScale };
  const common: Settings = { ...preset, seed: 1, ...(learningRate === undefined ? {} : { learningRate }) };
  const spoSettings: Settings = { ...common, ...(threshold === undefined ? {} : { threshold }) };
  const d3poSettings: Settings = { ...common, method: 'd3po', divertStartStep: 0, threshold: 0 };
  const basePipeline = await Pipeline.load(path.join(assets, 'base'));
  const base = await judgeOn(basePipeline, prompts, images, sampling);
  basePipeline.dispose();
  const s = await trainSpo({ assets, prompts: trainPrompts, settings: spoSettings, rounds });
  const spoRows = await judgeOn(s.pipeline, prompts, images, sampling);
  s.pipeline.dispose();
  const d = await trainD3poToBudget({ assets, prompts: trainPrompts, settings: d3poSettings, budget: s.evaluations.all });
  const d3poRows = await judgeOn(d.pipeline, prompts, images, sampling);
  d.pipeline.dispose();
  const e = (x: EvaluationCount) => `${x.all} (sampling ${x.sampling}, rollout ${x.rollout}, update ${x.update})`;
  return {
    check: 6,
    title: `SPO with the rollout oracle vs base and D3PO: ${prompts.length} validation prompts x ${images} images`,
    figures: [
      ...spoFigures(base, spoRows, d3poRows),
      reported('SPO: rounds, kept pairs, seconds', `${s.rounds}, ${s.pairs}, ${s.seconds.toFixed(0)}`),
      reported('D3PO: rounds, kept pairs, seconds', `${d.rounds}, ${d.pairs}, ${d.seconds.toFixed(0)}`),
    ],
    notes: [
      `UNet evaluations (guided, one latent each): SPO ${e(s.evaluations)}; D3PO ${e(d.evaluations)}`,
      `SPO lr ${spoSettings.learningRate}, threshold ${resolveSettings(spoSettings).threshold}; ` +
        `D3PO lr ${d3poSettings.learningRate}, ` +
        'threshold 0, divert start 0; the other settings SHAPES_WORLD_SPO\'s',
    ],
    evaluations: { spo: s.evaluations, d3po: d.evaluations, d3poMostPerRound: d.mostPerRound },
    seconds: (performance.now() - started) / 1000,
  };
}

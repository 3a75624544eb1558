// `spo experiment` (lib/world/experiment.ts, lib/cli/experiment.ts): the equal
// budget of UNet evaluations counted through the engine against hand formulas,
// the learning-rate choice reading the validation split only, the report's
// tables following the world's judge parts, and the command end to end on tiny
// settings, on the shipped relations models and on scenes models pretrained here.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Pipeline } from '../dist/index.js';
import { JUDGE_PARTS, pretrainWorld, shapesWorldAssets, worldPrompts } from '../dist/world/index.js';
import {
  EXPERIMENT_PARTS, EXPERIMENT_ROWS, chooseLearningRate, evaluatorFolder, halfDecadeBeyond, judgeSplit, moreRounds, rowGrid,
  samplingEvaluations, trainRow, tuneRow, type ExperimentPlan, type FinalResult, type TuningResult,
} from '../dist/world/experiment.js';
import { experimentConfig, experimentReport, gainDifference, pool, reportedSeeds, type ReportInput } from '../dist/cli/experiment.js';
import { T95_TABLE } from './helpers';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const spo = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 900_000 });
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-experiment-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Tiny settings: 4 DDIM steps, the first plain (d = 1), 2 prompts per round, k = 2.
const TINY = { steps: 4, divertStartStep: 1, sampleBatchSize: 2, trainBatchSize: 4, k: 2 };
const row = (id: string) => EXPERIMENT_ROWS.find((r) => r.id === id)!;
const interval = (mean: number, half = 0.01, n = 2) => ({ mean, half, n });

describe('stored runs', () => {
  it("name the package's own models relative to the package, so a results file travels between clones", () => {
    const plan: ExperimentPlan = { world: 'scenes', assets: shapesWorldAssets('scenes'), budget: 10, settings: {}, evalSeed: 1 };
    expect(JSON.parse(experimentConfig(plan))).toEqual({
      world: 'scenes', assets: path.join('assets', 'scenes-world'), budget: 10, evalSeed: 1, settings: {} });
    // A folder outside the package keeps its absolute path.
    const elsewhere = path.join(work, 'models');
    expect(JSON.parse(experimentConfig({ ...plan, assets: elsewhere })).assets).toBe(elsewhere);
  });
});

describe("each row's evaluator folder", () => {
  it('takes the rollout-trained pair where the folder has them, else the noisy-pair models; plain is evaluator-plain', () => {
    const scenes = shapesWorldAssets('scenes'), relations = shapesWorldAssets('relations');
    expect(evaluatorFolder(scenes, 'step-aware')).toBe(path.join(scenes, 'evaluator-rollout'));
    expect(evaluatorFolder(scenes, 'step-agnostic')).toBe(path.join(scenes, 'evaluator-rollout-agnostic'));
    expect(evaluatorFolder(scenes, 'plain')).toBe(path.join(scenes, 'evaluator-plain'));
    expect(evaluatorFolder(relations, 'step-aware')).toBe(path.join(relations, 'evaluator-step-aware'));
    expect(evaluatorFolder(relations, 'step-agnostic')).toBe(path.join(relations, 'evaluator-step-agnostic'));
    // A folder without the model file does not count: an interrupted stage leaves one.
    const half = path.join(work, 'half-folder');
    cpSync(path.join(relations, 'evaluator-step-agnostic'), path.join(half, 'evaluator-step-agnostic'), { recursive: true });
    mkdirSync(path.join(half, 'evaluator-rollout-agnostic'), { recursive: true });
    expect(evaluatorFolder(half, 'step-agnostic')).toBe(path.join(half, 'evaluator-step-agnostic'));
    // Neither present: the noisy-pair name, so the loader's error names the folder a user would look for.
    expect(evaluatorFolder(path.join(work, 'nothing'), 'step-agnostic')).toBe(path.join(work, 'nothing', 'evaluator-step-agnostic'));
  });
});

describe('the budget: guided UNet evaluations, sampling and update, counted through the engine', () => {
  const budget = 150;
  const plan: ExperimentPlan = { world: 'relations', assets: shapesWorldAssets(), budget, settings: TINY, evalSeed: 1234 };

  it('gives SPO, D3PO and Diffusion-DPO the same budget, each within half of its largest round', async () => {
    const runs: Record<string, Awaited<ReturnType<typeof trainRow>>> = {};
    for (const id of ['spo', 'd3po', 'diffusion-dpo']) {
      runs[id] = await trainRow(row(id), plan, 1e-3, 1);
      runs[id]!.pipeline.dispose();
    }
    const { steps: n, divertStartStep: d, sampleBatchSize: P, k } = TINY;
    // SPO's sampling by hand: d plain steps, the branch point's own evaluation, then k candidates per
    // prompt at each later step (the last step's candidates are final images: nothing more to evaluate).
    const spoRound = P * d + P + P * k * (n - d - 1);
    expect(spoRound).toBe(12);
    expect(runs.spo!.evaluations.sampling).toBe(runs.spo!.rounds * spoRound);
    // D3PO: two whole trajectories per prompt, one evaluation per step; the formula Diffusion-DPO's
    // sampled pairs are counted with gives the engine's own count.
    expect(runs.d3po!.evaluations.sampling).toBe(runs.d3po!.rounds * 2 * P * n);
    expect(samplingEvaluations(2 * P * runs.d3po!.rounds, n)).toBe(runs.d3po!.evaluations.sampling);
    // The updates by hand. SPO: the two candidates of a pair leave the same x_t, so one policy and one
    // reference evaluation there serve both: 2 per kept pair. D3PO: every step of both trajectories,
    // policy and reference, but the first step's x_T is shared: 2 (2n - 1) per kept prompt (n pairs).
    expect(runs.spo!.evaluations.update).toBe(2 * runs.spo!.pairs);
    expect(runs.d3po!.pairs % n).toBe(0);
    expect(runs.d3po!.evaluations.update).toBe((runs.d3po!.pairs / n) * 2 * (2 * n - 1));
    // Diffusion-DPO: whole pairs of samples, and the engine's 4 evaluations per pair of each batch.
    expect(runs['diffusion-dpo']!.evaluations.sampling % (2 * n * P)).toBe(0);
    expect(runs['diffusion-dpo']!.evaluations.update).toBe(4 * TINY.trainBatchSize * runs['diffusion-dpo']!.rounds);
    // The largest round each can make: every pair kept, 4 evaluations per pair at most
    // (policy and reference on winner and loser); SPO keeps one pair per prompt and branch step,
    // D3PO one per prompt and step; a Diffusion-DPO batch of P pairs.
    const largest = { spo: spoRound + 4 * P * (n - d), d3po: 2 * P * n + 4 * P * n, 'diffusion-dpo': 2 * P * n + 4 * P };
    for (const [id, most] of Object.entries(largest)) {
      const e = runs[id]!.evaluations;
      expect(e.all, id).toBe(e.sampling + e.update);
      expect(e.update, `${id} trained`).toBeGreaterThan(0);
      expect(Math.abs(e.all - budget), `${id}: ${JSON.stringify(e)}`).toBeLessThanOrEqual(most / 2);
    }
  }, 300_000);

  it('runs another whole round only while it brings the count nearer the budget', () => {
    expect(moreRounds(60, 100)).toBe(true);   // 60 left: one more round of 100 ends 40 over, nearer than 60 under
    expect(moreRounds(40, 100)).toBe(false);  // 40 under is nearer than 60 over
    expect(moreRounds(-5, 100)).toBe(false);
  });
});

describe('the learning rate: chosen on the validation split from one grid', () => {
  it('refuses test prompts while tuning, before any model is loaded', async () => {
    const plan: ExperimentPlan = { world: 'scenes', assets: path.join(work, 'no-such-models'), budget: 10, settings: TINY, evalSeed: 1 };
    const test = worldPrompts('test', 'scenes').slice(0, 2);
    // With no models in `assets`, reaching training would fail with a load error instead.
    await expect(tuneRow(row('spo'), plan, 1e-3, 0, test, [])).rejects.toThrow(/tuning reads the validation split only/);
    await expect(tuneRow(row('spo'), plan, 1e-3, 0, [worldPrompts('validation', 'scenes')[0]!, test[1]!], []))
      .rejects.toThrow(InvalidArgumentError);
  });

  it('judges a split only on its own prompts', async () => {
    const plan: ExperimentPlan = { world: 'relations', assets: shapesWorldAssets(), budget: 10, settings: TINY, evalSeed: 1 };
    const pipeline = await Pipeline.load(path.join(shapesWorldAssets(), 'base'));
    try {
      const test = worldPrompts('test').slice(0, 2);
      await expect(judgeSplit(pipeline, plan, 'validation', test)).rejects.toThrow(/is a test prompt \(tuning reads/);
      const values = await judgeSplit(pipeline, plan, 'test', test);
      expect(values.map((v: Record<string, number>) => Object.keys(v))).toEqual([['total', 'alignment', 'quality'], ['total', 'alignment', 'quality']]);
    } finally {
      pipeline.dispose();
    }
  });

  it('picks the rate with the highest mean validation total, and only once every rate of the grid has run', () => {
    const t = (r: string, lr: number, total: number): TuningResult => ({
      row: r, lr, seed: 0, total: interval(total), gain: interval(0), evaluations: { sampling: 0, update: 0, all: 0 }, rounds: 1, seconds: 1,
    });
    const grid = [3e-4, 1e-3, 3e-3];
    const runs = [t('spo', 3e-4, 0.50), t('spo', 1e-3, 0.62), t('spo', 3e-3, 0.55), t('d3po', 3e-4, 0.9), t('d3po', 1e-3, 0.4)];
    expect(chooseLearningRate('spo', runs, grid)).toBe(1e-3);
    expect(chooseLearningRate('d3po', runs, grid)).toBeUndefined();  // 3e-3 not run yet
    expect(rowGrid('d3po', runs, grid)).toEqual({ rates: grid, next: 3e-3 });
    // The best at the grid's top edge: the next half-decade up is tried before anything is chosen.
    const top = [...runs, t('d3po', 3e-3, 0.95)];
    expect(rowGrid('d3po', top, grid)).toEqual({ rates: grid, next: 1e-2 });
    expect(chooseLearningRate('d3po', [...top, t('d3po', 1e-2, 0.7)], grid)).toBe(3e-3);
    expect(rowGrid('d3po', [...top, t('d3po', 1e-2, 0.7)], grid).rates).toEqual([3e-4, 1e-3, 3e-3, 1e-2]);
    // Equals: the lowest rate, which is the bottom edge, so 1e-4 is tried; at most two half-decades past each edge.
    const flat = [t('spo', 3e-4, 0.5), t('spo', 1e-3, 0.5), t('spo', 3e-3, 0.5)];
    expect(rowGrid('spo', flat, grid).next).toBe(1e-4);
    expect(rowGrid('spo', [...flat, t('spo', 1e-4, 0.4)], grid).chosen).toBe(3e-4);
    const falling = [...flat, t('spo', 1e-4, 0.6), t('spo', 3e-5, 0.7)];
    expect(rowGrid('spo', falling, grid)).toEqual({ rates: [3e-5, 1e-4, 3e-4, 1e-3, 3e-3], chosen: 3e-5 });
    // A grid of one rate is not tuned.
    expect(rowGrid('spo', [], [1e-3])).toEqual({ rates: [1e-3], chosen: 1e-3 });
  });

  it('steps half a decade along the 1, 3, 10 ladder', () => {
    expect([3e-3, 1e-3, 1e-2].map((lr) => halfDecadeBeyond(lr, 1))).toEqual([1e-2, 3e-3, 3e-2]);
    expect([3e-4, 1e-4, 1e-3].map((lr) => halfDecadeBeyond(lr, -1))).toEqual([1e-4, 3e-5, 3e-4]);
  });
});

describe('the report', () => {
  const final = (r: string, seed: number, parts: readonly string[], total: number, lr = 1e-3): FinalResult => ({
    row: r, lr, seed, rounds: 2, pairs: 3, seconds: 120,
    evaluations: { sampling: 100, update: 50 + seed, all: 150 + seed },
    parts: Object.fromEntries(parts.map((q) => [q, { value: interval(q === 'total' ? total : 0.5, 0.01, 100), gain: interval(0.02, 0.01, 100) }])),
  });
  const input = (world: 'relations' | 'scenes'): ReportInput => {
    const parts = EXPERIMENT_PARTS[world];
    return {
      world, command: 'spo experiment', date: '2026-12-04', machine: 'test', budget: 8192, grid: [1e-3, 3e-3], seeds: 2,
      testPrompts: 100, validationPrompts: 50, evalSeed: 1234, settings: {}, tables: [2, 5],
      rows: EXPERIMENT_ROWS.filter((r) => r.tables.includes(2) || r.tables.includes(5)),
      // 3e-3 is the grid's top and best, so the half-decade above it (1e-2) was tried as well.
      tuning: [1e-3, 3e-3, 1e-2].map((lr) => ({
        row: 'spo', lr, seed: 0, total: interval(lr === 3e-3 ? 0.7 : 0.6), gain: interval(0.1), rounds: 1, seconds: 1,
        evaluations: { sampling: 0, update: 0, all: 0 },
      })),
      finals: [final('base', 0, parts, 0.5, 0), final('spo', 1, parts, 0.6, 3e-3), final('spo', 2, parts, 0.8, 3e-3)],
    };
  };
  const cells = (line: string) => line.split('|').slice(1, -1).map((c) => c.trim());

  it("has the track's judge parts as columns, every row as many cells as the header", () => {
    for (const world of ['relations', 'scenes'] as const) {
      // The parts are the total and what it is the weighted sum of: the head of the engine's list.
      expect([...EXPERIMENT_PARTS[world]]).toEqual(JUDGE_PARTS[world].slice(0, EXPERIMENT_PARTS[world].length));
      const md = experimentReport(input(world));
      const headers = md.split('\n').filter((l: string) => l.startsWith('| row | lr |'));
      expect(headers.length).toBe(2);  // Tables 2 and 5, nothing else
      expect(cells(headers[0]!)).toEqual(['row', 'lr', 'seeds', 'UNet evaluations (sampling + update)', ...EXPERIMENT_PARTS[world],
        'gain over base (total)', 'SPO - row (total)', 'minutes per run']);
      // Each table: the lines from its header to the blank line after it (rows run and not run alike).
      for (const block of md.split('\n\n').filter((b: string) => b.startsWith('| row | lr |'))) {
        const lines = block.trim().split('\n');
        expect(lines.length).toBe(2 + 4);  // Table 2: base, SPO, Diffusion-DPO, D3PO; Table 5: base, SPO, k = 2, k = 8
        for (const l of lines) expect(cells(l).length, l).toBe(7 + EXPERIMENT_PARTS[world].length);
      }
    }
    expect(experimentReport(input('scenes'))).toContain('| total | alignment | coarse | fine |');
    expect(experimentReport(input('relations'))).toContain('| total | alignment | quality |');
  });

  it('pools the seeds, shows the chosen rate and the evaluation counts, and marks rows not run', () => {
    const md = experimentReport(input('scenes'));
    const table2 = md.slice(md.indexOf('## Table 2'));
    const spoLine = table2.split('\n').find((l: string) => l.startsWith('| SPO (random resampler'))!;
    const c = cells(spoLine);
    expect(c.slice(0, 4)).toEqual(['SPO (random resampler, step-aware, k = 4)', '0.003', '1, 2', '152 (100 + 52)']);
    // The two seeds' totals 0.6 and 0.8 (n = 100 each): mean 0.7; the seeds' interval t(0.975, 1 df) * sd / sqrt(2),
    // sd = 0.1414: 12.706 * 0.1 = 1.271, far wider than the images' 0.01 (two seeds say little).
    expect(c[4]).toBe(`0.700 ± ${(T95_TABLE[1]! * 0.1).toFixed(3)}`);
    expect(c.at(-1)).toBe('2.0');
    expect(md).toMatch(/\| D3PO \| not run \|/);
    // The learning-rate section: the validation totals per rate, the higher one chosen and in bold.
    const lrLine = md.split('\n').find((l: string) => l.startsWith('| SPO (random') && l.includes('**'))!;
    expect(cells(lrLine)).toEqual(['SPO (random resampler, step-aware, k = 4)', '0.600 ± 0.010 (+0.100)', '**0.700 ± 0.010 (+0.100)**',
      '0.600 ± 0.010 (+0.100)', '0.003', '0.1']);  // three tuning runs of a second
    // A row not tuned yet waits on the grid's rates; the extension column is not its own ('-').
    expect(md).toContain('| Diffusion-DPO | not run | not run | - | not yet | 0.0 |');
  });

  it('pools seeds with Student\'s t and compares rows seed against seed', () => {
    // Three seeds' totals 0.70, 0.72, 0.74 (images' halves 0.01): seeds' sd 0.02, half 4.3027 * 0.02 / sqrt(3).
    const three = [0.70, 0.72, 0.74].map((m) => interval(m, 0.01, 500));
    expect(pool(three).mean).toBeCloseTo(0.72, 12);
    expect(pool(three).half).toBeCloseTo(T95_TABLE[2]! * 0.02 / Math.sqrt(3), 4);
    // Seeds that agree: the images' pooled half, sqrt(3 * 0.01^2) / 3.
    expect(pool([0.7, 0.7, 0.7].map((m) => interval(m, 0.01, 500))).half).toBeCloseTo(Math.sqrt(3e-4) / 3, 12);
    const run = (r: string, seed: number, gain: number, half: number): FinalResult => ({
      row: r, lr: 1e-3, seed, rounds: 1, pairs: 1, seconds: 1, evaluations: { sampling: 0, update: 0, all: 0 },
      parts: { total: { value: interval(0.7), gain: interval(gain, half, 500) } },
    });
    // SPO's gains by seed 0.012, 0.004, 0.011 against 0.002, 0.000, -0.004: differences 0.010, 0.004, 0.015,
    // mean 0.009667, sd 0.005508; half 4.3027 * 0.005508 / sqrt(3) = 0.01368 (the images': 0.0055).
    const spoRuns = [run('spo', 1, 0.012, 0.006), run('spo', 2, 0.004, 0.005), run('spo', 3, 0.011, 0.007)];
    const dpo = [run('diffusion-dpo', 3, -0.004, 0.008), run('diffusion-dpo', 1, 0.002, 0.007), run('diffusion-dpo', 2, 0, 0.007)];
    const d = gainDifference(spoRuns, dpo)!;
    expect(d.mean).toBeCloseTo(0.029 / 3, 12);
    expect(d.half).toBeCloseTo(T95_TABLE[2]! * 0.0055076 / Math.sqrt(3), 4);
    expect(d.n).toBe(3);
    // Only seeds both rows ran count; differences that agree fall back on the images': hypot(0.006, 0.007).
    const same = gainDifference(spoRuns, [run('k2', 1, 0.002, 0.007), run('k2', 7, 0, 0.007)])!;
    expect(same).toEqual({ mean: expect.closeTo(0.010, 12), half: expect.closeTo(Math.hypot(0.006, 0.007), 12), n: 1 });
    expect(gainDifference(spoRuns, [run('k8', 9, 0, 0.01)])).toBeUndefined();
  });

  it('reports every seed stored from 1 on, at least the seeds asked for', () => {
    const seeds = (...s: number[]) => s.map((seed) => ({ seed }) as FinalResult);
    expect(reportedSeeds(seeds(1, 2, 3), 3)).toEqual([1, 2, 3]);
    expect(reportedSeeds(seeds(3, 1, 2, 5, 4), 3)).toEqual([1, 2, 3, 4, 5]);
    expect(reportedSeeds(seeds(1, 2, 3, 5), 3)).toEqual([1, 2, 3]);  // a gap ends the run of seeds
    expect(reportedSeeds(seeds(1, 2, 3, 4), 2)).toEqual([1, 2, 3, 4]);
  });
});

describe('spo experiment end to end (tiny settings)', () => {
  const settings = JSON.stringify(TINY);

  it('runs every row of Tables 3-5 on the shipped relations models with a grid of one rate, without tuning', () => {
    const results = path.join(work, 'relations', 'results.json'), report = path.join(work, 'relations', 'RESULTS.md');
    const args = ['experiment', '--world', 'relations', '--tables', '3,4,5', '--lrs', '1e-3', '--seeds', '1', '--budget', '40', '--prompts', '2',
      '--validation-prompts', '2', '--settings', settings, '--results', results, '--report', report];
    const r = spo(...args);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/tuning|validation prompts/);
    const store = JSON.parse(readFileSync(results, 'utf8'));
    const finals = store.runs.filter((x: { kind: string }) => x.kind === 'final').map((x: { result: FinalResult }) => x.result);
    expect(finals.map((x: FinalResult) => x.row).sort()).toEqual(['evaluator-oracle', 'evaluator-plain', 'evaluator-step-agnostic',
      'k2', 'k8', 'resampler-lose', 'resampler-none', 'resampler-win', 'spo'].sort());
    expect(finals.every((x: FinalResult) => x.lr === 1e-3 && x.evaluations.all > 0)).toBe(true);
    const md = readFileSync(report, 'utf8');
    for (const title of ['Table 3', 'Table 4', 'Table 5', 'k = 8', 'resampler lose', 'oracle', '| total | alignment | quality |']) {
      expect(md).toContain(title);
    }
    expect(md).not.toContain('Table 2');
    expect(md).toContain('Learning rate: 0.001 for every row (a grid of one: not tuned).');
    // A second call finds every run done and only rewrites the report.
    const again = spo(...args);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/seed 1, lr/);
  }, 1_200_000);

  describe('on the scenes world, models pretrained here at a tiny scale', () => {
    const assets = path.join(work, 'scenes-tiny');
    beforeAll(async () => {
      await pretrainWorld({ outDir: assets, world: 'scenes', scale: 0.002, samplingSteps: 2, validationPrompts: 2 });
    });

    it('tunes each Table 2 row on validation prompts, then runs the chosen rate per seed on the test prompts', () => {
      const results = path.join(work, 'scenes', 'results.json'), report = path.join(work, 'scenes', 'RESULTS.md');
      const budget = 60;
      // No --world: the world the models were made for (stages/init.json).
      const r = spo('experiment', '--assets', assets, '--tables', '2', '--lrs', '1e-3,3e-3', '--seeds', '2',
        '--budget', String(budget), '--prompts', '2', '--validation-prompts', '2', '--settings', settings,
        '--results', results, '--report', report);
      expect(r.status, r.stderr).toBe(0);
      // Every tuning run precedes the first reading of the test split.
      const lines = r.stderr.split('\n');
      const firstTest = lines.findIndex((l) => /on 2 test prompts/.test(l));
      const lastTuning = lines.map((l) => l.startsWith('tuning ')).lastIndexOf(true);
      expect(lastTuning).toBeGreaterThan(0);
      expect(firstTest).toBeGreaterThan(lastTuning);
      const store = JSON.parse(readFileSync(results, 'utf8'));
      const tuning: TuningResult[] = store.runs.filter((x: { kind: string }) => x.kind === 'tuning').map((x: { result: TuningResult }) => x.result);
      const finals: FinalResult[] = store.runs.filter((x: { kind: string }) => x.kind === 'final').map((x: { result: FinalResult }) => x.result);
      const trained = ['spo', 'diffusion-dpo', 'd3po'];
      for (const id of trained) {
        // The rates tried: the grid and a run of half-decades past one edge, each once.
        const tried = tuning.filter((t) => t.row === id).map((t) => t.lr).sort((x, y) => x - y);
        expect(new Set(tried).size).toBe(tried.length);
        expect(tried).toEqual(expect.arrayContaining([1e-3, 3e-3]));
        tried.slice(1).forEach((lr, i) => expect(lr).toBe(halfDecadeBeyond(tried[i]!, 1)));
        // The chosen rate, read here from the validation totals by hand: the highest (the lowest of equals),
        // inside the rates tried unless two half-decades were tried past that edge.
        const total = (lr: number) => tuning.find((t) => t.row === id && t.lr === lr)!.total.mean;
        const chosen = tried.reduce((x, lr) => (total(lr) > total(x) ? lr : x));
        if (chosen === tried.at(-1)) expect(tried.filter((lr) => lr > 3e-3).length).toBe(2);
        if (chosen === tried[0]) expect(tried.filter((lr) => lr < 1e-3).length).toBe(2);
        if (tried.length > 2) expect(tried[0] === 1e-3 || tried.at(-1) === 3e-3).toBe(true);  // one edge extended, not both
        const runs = finals.filter((x) => x.row === id);
        expect(runs.map((x) => [x.seed, x.lr])).toEqual([[1, chosen], [2, chosen]]);
        for (const x of runs) expect(Object.keys(x.parts)).toEqual(['total', 'alignment', 'coarse', 'fine']);
      }
      const md = readFileSync(report, 'utf8');
      expect(md).toContain('scenes track');
      expect(md).toContain('| total | alignment | coarse | fine |');
      expect(md).toContain('## Learning rate per row (validation split');
      expect(md).not.toContain('Table 3');
      // Models of the other world are refused.
      const wrong = spo('experiment', '--world', 'relations', '--assets', assets, '--results', results, '--report', report);
      expect(wrong.status).not.toBe(0);
      expect(wrong.stderr).toMatch(/models of the scenes world, not relations/);
    }, 1_200_000);
  });
});

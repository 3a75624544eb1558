// World v2's suitability checks 2-6 (spo-diffusion/world's `suitability`,
// lib/world/suitability/, and its command scripts/world/suitability.mjs): each
// figure's statistic against a hand computation on made-up numbers, the
// branching helpers against the engine, the command end to end on models
// pretrained here at a tiny scale, and the refusal of the test split.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pipeline, Sampler } from '../dist/index.js';
import {
  JUDGE_TIE_MARGIN, judgeWorld, pretrainWorld, suitability, worldPrompts, worldSplitOf, type WorldPretrainingReport,
} from '../dist/world/index.js';
import { judgeInput, T95_TABLE } from './helpers';

type Figure = suitability.Figure;

const command = path.resolve(__dirname, '..', 'scripts', 'world', 'suitability.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [command, ...args], { encoding: 'utf8', timeout: 900_000 });
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-suitability-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const byName = (figures: Figure[], start: string) => {
  const f = figures.find((x) => x.name.startsWith(start));
  if (!f) throw new Error(`no figure '${start}' in ${figures.map((x) => x.name).join('; ')}`);
  return f;
};
/** A judge score with the parts the checks read. */
const score = (total: number, alignment: number, coarse: number, fine: number) => ({ total, alignment, coarse, fine });

describe('the statistics, against hand computations', () => {
  it('pooled within-prompt sd and the share of prompts whose best and worst differ beyond the margin', () => {
    // Variances (n - 1): [1, 2, 3, 4] -> 5/3, [2, 2, 2, 2] -> 0; pooled sd sqrt((5/3 + 0) / 2).
    expect(suitability.pooledWithinSd([[1, 2, 3, 4], [2, 2, 2, 2]])).toBeCloseTo(Math.sqrt(5 / 6), 12);
    // Ranges 0.5, 0.25 (not beyond 0.25: strictly more is asked), 0.125; exact in binary.
    expect(suitability.shareSpreadBeyond([[0, 0.5], [0.5, 0.75], [0, 0.125]], 0.25)).toBeCloseTo(1 / 3, 12);
  });

  it('the share of variance still open: mean within-branch variance over the variance of independent samples', () => {
    // Branches of two shared x_t: [1, 3] and [5, 7] (variances 2 and 2); independent samples [0, 4] (variance 8).
    expect(suitability.shareOpen([[1, 3], [5, 7]], [[0, 4]])).toBeCloseTo(0.25, 12);
    // A part settled at x_t (identical branches) has nothing open.
    expect(suitability.shareOpen([[0.7, 0.7, 0.7]], [[0, 1]])).toBeCloseTo(0, 12);
  });

  it('agreement on decided pairs: same order 1, opposite 0, equal readings 1/2; ties of the outcome left out', () => {
    const a = suitability.agreement([
      // pairs (0,1) d 1, r 0.4: agrees; (0,2) d 0.5, r 0.4: agrees; (1,2) d -0.5, r 0: half.
      { reading: [0.9, 0.5, 0.5], outcome: [1, 0, 0.5] },
      // d 0.01 <= margin: not decided; (0,2) d -0.5, r +0.2: disagrees; (1,2) d -0.51, r +0.1: disagrees.
      { reading: [0.3, 0.2, 0.1], outcome: [0.5, 0.49, 1] },
    ], 0.02);
    expect(a.pairs).toBe(5);
    expect(a.agreement).toBeCloseTo(2.5 / 5, 12);
    expect(Number.isNaN(suitability.agreement([{ reading: [1, 0], outcome: [0.5, 0.5] }], 0.02).agreement)).toBe(true);
  });

  it('the paired 95% interval and the bands of t', () => {
    // Differences 1, 2, 3: mean 2, sd 1, half t(0.975, 2 df) / sqrt(3).
    expect(suitability.pairedInterval([0, 0, 0], [1, 2, 3])).toEqual({ mean: 2, half: expect.closeTo(T95_TABLE[2]! / Math.sqrt(3), 4), n: 3 });
    expect([-1, 0, 1, 299, 300, 599, 600, 999].map(suitability.band))
      .toEqual(['final', 'final', '1-299', '1-299', '300-599', '300-599', '600-999', '600-999']);
  });
});

describe('each check\'s figures from made-up judge scores', () => {
  it('check 2: coarse and fine sd, best vs worst, each against its criterion', () => {
    const perPrompt = [
      [score(0.9, 1, 0.8, 0.9), score(0.95, 1, 1, 0.9), score(0.9, 1, 0.8, 0.9), score(0.95, 1, 1, 0.9)],
      [score(0.5, 1, 1, 1), score(0.5, 1, 1, 0.9), score(0.5, 1, 1, 1), score(0.5, 1, 1, 0.9)],
    ];
    const f: Figure[] = suitability.roomFigures(perPrompt, 0.02);
    // coarse: variances 0.04 / 3 and 0; fine: 0 and 0.01 / 3.
    expect(byName(f, 'within-prompt sd of coarse').value).toBeCloseTo(Math.sqrt(0.04 / 6), 12);
    expect(byName(f, 'within-prompt sd of coarse').pass).toBe(true);  // 0.082 >= 0.05
    expect(byName(f, 'within-prompt sd of fine').value).toBeCloseTo(Math.sqrt(0.01 / 6), 12);
    expect(byName(f, 'within-prompt sd of fine').pass).toBe(false);  // 0.041 < 0.05
    expect(byName(f, 'share of prompts, best - worst').value).toBe(0.5);  // 0.05 > 0.02 once, 0 once
    expect(byName(f, 'share of prompts, best - worst').pass).toBe(true);
  });

  it('check 3: shares open at 501 and 251, criteria coarse < fine at 501 and fine >= 1/3 at 251', () => {
    const parts = (coarse: number[], fine: number[]) => ({ total: [coarse], alignment: [coarse], coarse: [coarse], fine: [fine] });
    const branched = { 501: parts([0.8, 0.8], [0.6, 1]), 251: parts([0.8, 0.8], [0.8, 1]) };
    const independent = { total: [[0.6, 1]], alignment: [[0.6, 1]], coarse: [[0.6, 1]], fine: [[0.6, 1]] };
    const f: Figure[] = suitability.decidedFigures(branched, independent);
    // Var of [0.6, 1] = 0.08; of [0.8, 1] = 0.02: fine open 1 at 501, 0.25 at 251; coarse 0.
    expect(byName(f, 'share of coarse variance open at t = 501').value).toBe(0);
    expect(byName(f, 'share of coarse variance open at t = 501').pass).toBe(true);
    expect(byName(f, 'share of fine variance open at t = 251').value).toBeCloseTo(0.25, 12);
    expect(byName(f, 'share of fine variance open at t = 251').pass).toBe(false);
    expect(byName(f, 'share of fine variance open at t = 501').value).toBeCloseTo(1, 12);
    // A sub-score given beside the parts is reported at every t, with no criterion.
    const grain = suitability.decidedFigures(
      { 501: { ...parts([0.8, 0.8], [0.6, 1]), grain: [[0.9, 1]] }, 251: { ...parts([0.8, 0.8], [0.8, 1]), grain: [[1, 1]] } },
      { ...independent, grain: [[0.8, 1]] });
    // Var of [0.9, 1] = 0.005 against 0.02: a quarter open at 501; none at 251.
    expect(byName(grain, 'share of grain variance open at t = 501').value).toBeCloseTo(0.25, 12);
    expect(byName(grain, 'share of grain variance open at t = 501').pass).toBeNull();
    expect(byName(grain, 'share of grain variance open at t = 251').value).toBe(0);
    expect(f.some((x) => x.name.includes('grain'))).toBe(false);
  });

  it('check 4: agreement per band and part, read only where the part decides enough pairs', () => {
    const x0s = [score(0.9, 1, 1, 0.9), score(0.5, 1, 1, 0.5)];
    const finals = [score(0.95, 1, 1, 0.95), score(0.6, 1, 1, 0.6)];
    const group = (t: number, flip: boolean) => ({ t, x0: x0s, final: flip ? [...finals].reverse() : finals });
    // Band 1-299: 21 groups agreeing on total and fine, 4 disagreeing; coarse and alignment never decide.
    const groups = [...Array.from({ length: 21 }, (_, i) => group(1 + i, false)), ...Array.from({ length: 4 }, () => group(251, true)),
      group(501, true), group(-1, false)];
    const f: Figure[] = suitability.x0Figures(groups, 0.02);
    const total = byName(f, 'agreement at t 1-299, total');
    expect(total.name).toContain('(25 decided pairs)');
    expect(total.value).toBeCloseTo(21 / 25, 12);
    expect(total.pass).toBe(true);
    expect(byName(f, 'agreement at t 1-299, coarse').pass).toBeNull();  // no decided pair: unread
    expect(byName(f, 'agreement at t 300-599, total').value).toBe(0);
    expect(byName(f, 'agreement at t 300-599, total').pass).toBeNull();  // no criterion above t 300
    expect(byName(f, 'agreement at t final, fine').value).toBe(1);
  });

  it('check 6: SPO must beat the base beyond its interval and gain at least as much as D3PO', () => {
    const rows = (totals: number[]) => totals.map((t) => score(t, t, t, t));
    const base = rows([0.5, 0.6, 0.7, 0.8]);
    const f: Figure[] = suitability.spoFigures(base, rows([0.6, 0.7, 0.8, 0.9]), rows([0.55, 0.7, 0.75, 0.85]));
    // SPO - base: 0.1 each (half 0); D3PO - base: 0.05, 0.1, 0.05, 0.05: mean 0.0625.
    expect(byName(f, 'SPO - base, total: lower end').value).toBeCloseTo(0.1, 12);
    expect(byName(f, 'SPO - base, total: lower end').pass).toBe(true);
    expect(byName(f, '(SPO - base) - (D3PO - base)').value).toBeCloseTo(0.0375, 12);
    const worse: Figure[] = suitability.spoFigures(base, rows([0.5, 0.7, 0.7, 0.8]), rows([0.55, 0.7, 0.75, 0.85]));
    expect(byName(worse, 'SPO - base, total: lower end').pass).toBe(false);  // 0.025 ± 0.049 reaches below 0
  });

  it("check 6's rollout count: each candidate of every branch step continued over the steps left, counted step by step", () => {
    // The 20-step leading schedule 951, 901, ..., 1; branches at steps 4 .. 19 (divert start 4).
    const ts = Array.from({ length: 20 }, (_, i) => 951 - 50 * i);
    // A branch at ts[i] leaves its candidates at ts[i + 1]; the rollout takes one guided step at each
    // timestep from there down: every timestep below ts[i].
    let perCandidate = 0;
    for (let i = 4; i < 20; ++i) perCandidate += ts.filter((t) => t < ts[i]!).length;
    expect(perCandidate).toBe(120);
    expect(suitability.rolloutEvaluations({ steps: 20, divertStartStep: 4, k: 4, sampleBatchSize: 8 }, 3)).toBe(3 * 8 * 4 * 120);
    expect(() => suitability.rolloutEvaluations({ steps: 20, divertStartStep: 4, k: 4, sampleBatchSize: 8, transitionsPerChain: 2 }, 1))
      .toThrow(/transitionsPerChain 1/);
  });
});

describe('the test split is refused', () => {
  it('by the prompt guard and by the command, before any model is read', () => {
    const test = worldPrompts('test', 'scenes');
    expect(() => suitability.refuseTestPrompts([worldPrompts('validation', 'scenes')[0], test[3]])).toThrow(/test prompt/);
    expect(() => suitability.promptsOf('test', 10)).toThrow(suitability.TestSplitRefused);
    const picked: string[] = suitability.promptsOf('validation', 50);
    expect(picked).toHaveLength(50);
    expect(new Set(picked.map((p) => worldSplitOf(p, 'scenes')))).toEqual(new Set(['validation']));
    // A folder that does not exist: the split is refused first, by name.
    const r = run('--assets', path.join(work, 'none'), '--split', 'test');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--split must be 'validation' or 'train', not 'test'/);
  });
});

describe('on scenes models pretrained here at a tiny scale', () => {
  const assets = path.join(work, 'scenes-tiny');
  let pretrained: WorldPretrainingReport;
  beforeAll(async () => {
    pretrained = await pretrainWorld({ outDir: assets, world: 'scenes', scale: 0.002, samplingSteps: 2, validationPrompts: 2 });
  }, 600_000);

  it('refuses the test split here too, and a relations folder', () => {
    const r = run('--assets', assets, '--split', 'test', '--check', '2');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/test split is read once per final run/);
    // The shipped models were made for the relation world, whose judge has no coarse or fine part.
    const shipped = run('--assets', path.resolve(__dirname, '..', 'assets', 'shapes-world'), '--check', '2');
    expect(shipped.status).toBe(2);
    expect(shipped.stderr).toMatch(/made for the relations world/);
  });

  it('the branching helpers: the guided output at x_T is the engine\'s, and deterministic branches coincide', async () => {
    const model = await suitability.openBase(assets, { steps: 20, guidanceScale: 5 });
    try {
      const prompts = worldPrompts('validation', 'scenes').slice(0, 3);
      const s5 = await suitability.advance(model, await suitability.startStates(model, prompts, 7), 5, 11);
      // advance's modelOutput is the engine's guided output at x_t (candidates with predictX0).
      const mine = await suitability.guidedOutput(model, s5.latents, model.timesteps[5], prompts);
      let worst = 0;
      mine.data.forEach((v: number, i: number) => { worst = Math.max(worst, Math.abs(v - s5.modelOutput.data[i])); });
      expect(worst).toBeLessThan(1e-4);
      // eta 0: branches from one x_t are the same image; eta 1: they are not.
      const same = await suitability.branchToEnd(model, s5, 2, 3, 0);
      const n = same.data.length / 6;
      const row = (img: { data: Float32Array }, i: number) => Array.from(img.data.subarray(i * n, (i + 1) * n));
      expect(row(same, 0)).toEqual(row(same, 1));
      const apart = await suitability.branchToEnd(model, s5, 2, 3, 1);
      expect(row(apart, 0)).not.toEqual(row(apart, 1));
    } finally {
      model.dispose();
    }
  }, 300_000);

  it('runs checks 2-5 as one command: every figure against its criterion, a JSON summary, check 2 recomputed', async () => {
    const r = run('--assets', assets, '--check', '2,3,4,5', '--prompts', '3', '--json');
    expect(r.status === 0 || r.status === 1, r.stderr).toBe(true);
    const summary = JSON.parse(r.stdout);
    expect(summary.split).toBe('validation');
    expect(summary.checks.map((c: { check: number }) => c.check)).toEqual([2, 3, 4, 5]);
    for (const c of summary.checks) {
      expect(['PASS', 'FAIL', 'UNREAD']).toContain(c.verdict);
      expect(r.stderr).toContain(`check ${c.check}: ${c.verdict}`);
    }
    expect(summary.pass).toBe(!summary.checks.some((c: { verdict: string }) => c.verdict === 'FAIL'));
    expect(r.status).toBe(summary.pass ? 0 : 1);

    // Check 2 recomputed from its samples: 4 samples of the 3 prompts, sample s with seed 2000 + 1000 s.
    const prompts: string[] = suitability.promptsOf('validation', 3);
    const pipeline = await Pipeline.load(path.join(assets, 'base'));
    const perPrompt: { total: number; coarse: number; fine: number }[][] = prompts.map(() => []);
    for (let s = 0; s < 4; ++s) {
      const images = await new Sampler(pipeline).generate({ prompts, seed: 2000 + 1000 * s, steps: 20, guidanceScale: 5, eta: 1 });
      judgeWorld(judgeInput(images), prompts, 'scenes').forEach((j, p) => perPrompt[p]!.push(j));
    }
    pipeline.dispose();
    const sd = (part: 'coarse' | 'fine') => {
      const vars = perPrompt.map((g) => {
        const m = g.reduce((a, x) => a + x[part], 0) / g.length;
        return g.reduce((a, x) => a + (x[part] - m) ** 2, 0) / (g.length - 1);
      });
      return Math.sqrt(vars.reduce((a, b) => a + b, 0) / vars.length);
    };
    const check2 = summary.checks[0].figures as Figure[];
    expect(byName(check2, 'within-prompt sd of coarse').value).toBeCloseTo(sd('coarse'), 9);
    expect(byName(check2, 'within-prompt sd of fine').value).toBeCloseTo(sd('fine'), 9);
    const spread = perPrompt.filter((g) => Math.max(...g.map((x) => x.total)) - Math.min(...g.map((x) => x.total)) > JUDGE_TIE_MARGIN);
    expect(byName(check2, 'share of prompts, best - worst').value).toBeCloseTo(spread.length / 3, 12);

    // Check 5 reads the folder's report when it has the figures.
    const report = JSON.parse(readFileSync(path.join(assets, 'report.json'), 'utf8'))['evaluator-step-aware'].after;
    const check5 = summary.checks[3].figures as Figure[];
    expect(byName(check5, 'accuracy on held-out decided pairs at t = 251').value).toBe(report.accuracy['251']);
    // pretrainWorld's typed report holds the same figure: timesteps and accuracies as parallel arrays.
    const after = pretrained.evaluatorStepAware!.after!;
    expect(after.accuracy[after.timesteps.indexOf(251)]).toBe(report.accuracy['251']);
  }, 900_000);

  it('check 6 gives D3PO at least SPO\'s UNet evaluations, and less than one D3PO round more', async () => {
    const prompts: string[] = suitability.promptsOf('validation', 2);
    const trainPrompts = worldPrompts('train', 'scenes').slice(0, 40);
    const result = await suitability.checkSpo({
      assets, prompts, trainPrompts, rounds: 1, images: 1,
      overrides: { steps: 6, divertStartStep: 2, sampleBatchSize: 2, trainBatchSize: 4 },
    });
    const { spo, d3po, d3poMostPerRound } = result.evaluations;
    // Rollout: 2 prompts x 4 candidates x (6 - 1 - 2)(6 - 2) / 2 = 6 steps each.
    expect(spo.rollout).toBe(2 * 4 * 6);
    expect(spo.all).toBe(spo.sampling + spo.rollout + spo.update);
    expect(d3po.all).toBeGreaterThanOrEqual(spo.all);
    expect(d3po.all - spo.all).toBeLessThan(d3poMostPerRound);
    expect(result.figures.map((f: Figure) => f.name)).toContain('SPO - base, total: lower end of the 95% paired interval');
  }, 600_000);
});

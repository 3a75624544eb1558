// The shapes world from TypeScript: the fixed splits, the renderer and judge,
// the shipped models (assets/shapes-world) and `spo demo` (`spo experiment`: test/experiment.test.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Evaluator, InvalidArgumentError, Pipeline, Sampler, StepScorer, Trainer } from '../dist/index.js';
// The world through its own entry point (package.json "exports": spo-diffusion/world).
import {
  SHAPES_WORLD_SPO, WORLD_PROMPT_FORMS, WorldJudgeScorer, judgeWorld, pretrainWorld, renderWorld, shapesWorldAssets,
  spatialBreakdown, trainHalves, worldPrompts, worldSplitOf, type WorldPromptFormFilter,
} from '../dist/world/index.js';
import { judgeInput, T95_TABLE } from './helpers';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const spo = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 900_000 });
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-world-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the shapes world', () => {
  it('has fixed disjoint splits of the documented sizes', () => {
    const test = worldPrompts('test'), validation = worldPrompts('validation'), train = worldPrompts('train');
    expect([test.length, validation.length, train.length]).toEqual([500, 500, 36_056]);
    const seen = new Set([...test, ...validation, ...train]);
    expect(seen.size).toBe(37_056);
    expect(worldSplitOf(test[0]!)).toBe('test');
    expect(worldSplitOf(train[123]!)).toBe('train');
    expect(() => worldPrompts('holdout' as never)).toThrow(InvalidArgumentError);
  });

  it('sorts prompts into the forms the diagnostic scripts use, as the grammar counts them', () => {
    // docs/SHAPES_WORLD.md: 4 shapes x 8 colours x 3 sizes x 6 positions (one of them none) one-object scenes.
    const all = [...worldPrompts('test'), ...worldPrompts('validation'), ...worldPrompts('train')];
    const count = (form: WorldPromptFormFilter) => all.filter(WORLD_PROMPT_FORMS[form]).length;
    expect([count('one-object'), count('no-position'), count('relation'), count('all')]).toEqual([576, 96, 36_480, 37_056]);
    const { train, heldOut } = trainHalves(worldPrompts('train'), 'no-position');
    expect([train.length, heldOut.length]).toEqual([47, 46]);
    expect(train.some((p: string) => heldOut.includes(p))).toBe(false);
    expect(() => trainHalves(worldPrompts('train'), 'two-object' as never)).toThrow(/form must be one of/);
  });

  it('judges a render of its prompt high, the same render against another prompt low, noise lowest', () => {
    const prompt = worldPrompts('test')[7]!;
    const image = renderWorld(prompt, 32, 3);
    expect(image.shape).toEqual([3, 32, 32]);
    const [truth] = judgeWorld(image, [prompt]);
    const other = worldPrompts('test').find((p) => !p.includes(prompt.split(' ')[1]!) && !p.includes(prompt.split(' ')[2]!))!;
    const [wrong] = judgeWorld(image, [other]);
    const noise = { data: Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 12.9898) % 1), shape: [3, 32, 32] };
    const [noisy] = judgeWorld(noise, [prompt]);
    expect(truth!.total).toBeGreaterThan(0.9);
    expect(wrong!.total).toBeLessThan(truth!.total - 0.3);
    expect(noisy!.total).toBeLessThan(0.2);
    expect(() => judgeWorld(image, [prompt, prompt])).toThrow(/1 images but 2 prompts/);
    expect(() => judgeWorld(image, ['a plaid hexagon'])).toThrow(InvalidArgumentError);
  });

  it('reads which spatial words renders follow: stated, reversed, on the other axis, or a position', () => {
    const batch = (prompts: string[]) => {
      const images = prompts.map((p, i) => renderWorld(p, 32, 100 + i));
      const data = new Float32Array(images.length * 3 * 32 * 32);
      images.forEach((img, i) => data.set(img.data, i * 3 * 32 * 32));
      return { data, shape: [images.length, 3, 32, 32] };
    };
    const twoColours = (p: string) => new Set(p.match(/\b(red|green|blue|yellow|purple|orange|cyan|pink)\b/g)).size === 2;
    const relation = worldPrompts('test').filter(twoColours);
    const stated = relation.filter((p) => / (above|below) /.test(p)).slice(0, 6)
      .concat(relation.filter((p) => / to the (left|right) of /.test(p)).slice(0, 6));
    const swap = (p: string, a: string, b: string) => p.includes(a) ? p.replace(a, b) : p.replace(b, a);
    const reversed = stated.map((p) => swap(swap(p, ' above ', ' below '), ' to the left of ', ' to the right of '));
    const perpendicular = stated.map((p) => (/ (above|below) /.test(p)
      ? p.replace(/ (above|below) /, ' to the left of ') : p.replace(/ to the (left|right) of /, ' above ')));
    const positions = worldPrompts('train').filter((p) => / on the left$/.test(p)).slice(0, 4);
    const prompts = [...stated, ...stated, ...stated, ...positions, ...positions];
    const images = batch([...stated, ...reversed, ...perpendicular, ...positions, ...positions.map((p) => p.replace('left', 'right'))]);
    const all = spatialBreakdown(images, prompts);
    // Each rendered layout read against the stated prompt lands in its own category.
    expect(all.relation).toEqual({ prompts: 36, followed: 12, reversed: 12, otherAxis: 12, neither: 0 });
    expect(all.position).toEqual({ prompts: 8, followed: 4 });
    // One colour twice: the judge could match the blobs either way round, so the prompt is left out.
    const oneColour = worldPrompts('test').find((p) => / above /.test(p) && !twoColours(p))!;
    expect(spatialBreakdown(batch([oneColour]), [oneColour]).relation.prompts).toBe(0);
    // A blank image shows no objects: nothing can be read.
    const blank = { data: new Float32Array(3 * 32 * 32).fill(0.9), shape: [1, 3, 32, 32] };
    expect(spatialBreakdown(blank, [stated[0]!]).relation).toEqual({ prompts: 1, followed: 0, reversed: 0, otherAxis: 0, neither: 1 });
  });

  it('ships loadable models: a diffusers pipeline and the three evaluators', async () => {
    const assets = shapesWorldAssets();
    const pipeline = await Pipeline.load(path.join(assets, 'base'));
    expect(pipeline.info.defaultSize).toBe(32);
    // The base model is imperfect on purpose: its samples (drawn here, as the demo draws
    // them) judge well above noise but clearly below renders of the same prompts.
    const prompts = worldPrompts('test').slice(0, 16);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const samples = await new Sampler(pipeline).generate({ prompts, seed: 42, steps: SHAPES_WORLD_SPO.steps,
      guidanceScale: SHAPES_WORLD_SPO.guidanceScale, eta: 1 });
    pipeline.dispose();
    const sampled = mean(judgeWorld(judgeInput(samples), prompts).map((s) => s.total));
    const rendered = mean(prompts.map((p, i) => judgeWorld(renderWorld(p, 32, i), [p])[0]!.total));
    expect(rendered, `renders judged ${rendered}`).toBeGreaterThan(0.9);  // measured 0.982
    expect(sampled, `samples judged ${sampled}`).toBeGreaterThan(0.05);  // measured 0.368
    expect(sampled, `samples judged ${sampled}, renders ${rendered}`).toBeLessThan(rendered - 0.1);
    for (const kind of ['plain', 'step-aware', 'step-agnostic'] as const) {
      const evaluator = await Evaluator.load(path.join(assets, `evaluator-${kind}`));
      expect(evaluator.info.timeConditioning).toBe(kind);
      evaluator.dispose();
    }
  }, 120_000);
});

describe('the judge as an oracle step evaluator', () => {
  it('trains SPO with WorldJudgeScorer (a StepScorer from spo-diffusion/world) and refuses bad scales', async () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new WorldJudgeScorer(bad)).toThrow(InvalidArgumentError);
    }
    // The world's scorer is the engine's StepScorer: the Trainer takes it through that interface alone.
    expect(new WorldJudgeScorer()).toBeInstanceOf(StepScorer);
    const pipeline = await Pipeline.load(path.join(shapesWorldAssets(), 'base'));
    try {
      const trainer = new Trainer({
        pipeline, evaluator: new WorldJudgeScorer(), prompts: worldPrompts('train').slice(0, 8),
        steps: 6, divertStartStep: 2, k: 2, sampleBatchSize: 2, trainBatchSize: 4, threshold: 0, maxRounds: 1,
      });
      const r = await trainer.train();
      // threshold 0: every comparison of the 2 prompts at the 4 branch steps whose judge scores differ is a pair.
      expect(r.pairsKept + r.pairsTied).toBe(8);
      // The judge does tell these candidates apart (a scorer that ignored the images would keep none).
      expect(r.pairsKept).toBeGreaterThan(0);
      expect(r.optimizerSteps).toBeGreaterThanOrEqual(1);
    } finally {
      pipeline.dispose();
    }
  }, 300_000);

  it('judges where each candidate ends with { rollout: true }', async () => {
    expect(() => new WorldJudgeScorer(10, { rollout: 'yes' as never })).toThrow(InvalidArgumentError);
    expect(new WorldJudgeScorer().rollout).toBe(false);
    const run = async (rollout: boolean) => {
      const pipeline = await Pipeline.load(path.join(shapesWorldAssets(), 'base'));
      try {
        return await new Trainer({
          pipeline, evaluator: new WorldJudgeScorer(10, { rollout }), prompts: worldPrompts('train').slice(0, 8),
          steps: 6, divertStartStep: 2, k: 2, sampleBatchSize: 2, trainBatchSize: 4, threshold: 0, maxRounds: 1,
        }).train();
      } finally {
        pipeline.dispose();
      }
    };
    const [judged, again, rolled] = [await run(false), await run(false), await run(true)];
    expect(rolled.pairsKept + rolled.pairsTied).toBe(8);
    // Candidates of one step end in different final images, which the judge tells apart.
    expect(rolled.pairsKept).toBeGreaterThan(0);
    // The runs are deterministic (same seeds: the same candidates, verdicts and losses), so
    // any difference below comes from the option alone: judging where the candidates end
    // gives other verdicts than judging their x0 predictions (the verdicts themselves are
    // checked against generate(eta 0) and the judge in native/tests/evaluator/rollout_scorer_test.cpp).
    expect(again.losses).toEqual(judged.losses);
    expect([again.pairsKept, again.pairsTied]).toEqual([judged.pairsKept, judged.pairsTied]);
    expect(rolled.losses).not.toEqual(judged.losses);
  }, 300_000);

  it('refuses pretraining options out of range before any work', async () => {
    await expect(pretrainWorld({ outDir: path.join(work, 'never'), rolloutValidationPrompts: 501 })).rejects.toThrow(/rolloutValidationPrompts/);
    await expect(pretrainWorld({ outDir: path.join(work, 'never'), rolloutLearningRate: 2 })).rejects.toThrow(/rolloutLearningRate/);
    await expect(pretrainWorld({ outDir: path.join(work, 'never'), tieMargin: 2 })).rejects.toThrow(/tieMargin/);
    await expect(pretrainWorld({ outDir: path.join(work, 'never'), plainLearningRate: -1 })).rejects.toThrow(/plainLearningRate/);
    await expect(pretrainWorld({ outDir: path.join(work, 'never'), validationPrompts: 501 })).rejects.toThrow(/validationPrompts/);
    await expect(pretrainWorld({ outDir: path.join(work, 'never'), prediction: 'sample' as never })).rejects.toThrow(/prediction/);
    expect(existsSync(path.join(work, 'never'))).toBe(false);
  });
});

describe('spo demo', () => {
  it('trains, judges before and after, and writes the grid', async () => {
    const out = path.join(work, 'demo');
    const r = spo('demo', '--world', 'relations', '--prompts', '4', '--rounds', '1', '--out', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.testPrompts).toBe(4);
    expect(summary.table.map((row: { part: string }) => row.part)).toEqual(
      ['total', 'alignment', 'quality', 'colour', 'shape', 'count', 'place']);
    // The table recomputed from the sampler and the judge: 'before' judges the base model's samples
    // of the 4 test prompts at the demo's seed and settings, 'after' the same with the exported LoRA.
    const base = await Pipeline.load(path.join(shapesWorldAssets(), 'base'));
    const test = worldPrompts('test').slice(0, 4);
    const sampling = { prompts: test, seed: 42, steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale, eta: 1 };
    const beforeImages = await new Sampler(base).generate(sampling);
    const before = judgeWorld(judgeInput(beforeImages), test);
    // The exported LoRA changes the model: SPO's update did something (a no-op optimiser would not).
    await base.loadLora(path.join(out, 'lora', 'pytorch_lora_weights.safetensors'));
    const afterImages = await new Sampler(base).generate(sampling);
    base.dispose();
    expect(afterImages.some((img, i) => img.data.some((v, j) => v !== beforeImages[i]!.data[j])), 'the LoRA changes no pixel').toBe(true);
    const after = judgeWorld(judgeInput(afterImages), test);
    for (const row of summary.table) {
      expect(row.before.n).toBe(4);
      const values = before.map((s) => s[row.part as keyof typeof s] as number);
      expect(row.before.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / 4, 9);
      const late = after.map((s) => s[row.part as keyof typeof s] as number);
      const diffs = late.map((v, i) => v - values[i]!);
      const mean = diffs.reduce((a, b) => a + b, 0) / 4;
      const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / 3);
      expect(row.after.mean).toBeCloseTo(late.reduce((a, b) => a + b, 0) / 4, 9);
      // Paired: the interval of the per-prompt differences (Student's t, 3 degrees of freedom), not of two samples.
      expect(row.difference.mean).toBeCloseTo(mean, 9);
      expect(row.difference.half).toBeCloseTo(T95_TABLE[3]! * sd / 2, 5);
    }
    // The spatial reading covers the relation prompts with two colours, each image in one category,
    // and the position prompts (the first test prompts are one-object ones: 2 positions, no relation).
    const positions = worldPrompts('test').slice(0, 4).filter((p) => / (on the|at the|in the) /.test(p)).length;
    expect(positions).toBe(2);
    const relations = worldPrompts('test').slice(0, 4)
      .filter((p) => / (above|below|to the left of|to the right of) /.test(p))
      .filter((p) => new Set(p.match(/\b(red|green|blue|yellow|purple|orange|cyan|pink)\b/g)).size === 2).length;
    for (const side of [summary.spatial.before, summary.spatial.after]) {
      const r = side.relation;
      expect(r.prompts).toBe(relations);
      expect(r.followed + r.reversed + r.otherAxis + r.neither).toBe(relations);
      expect(side.position.prompts).toBe(positions);
      expect(side.position.followed).toBeLessThanOrEqual(positions);
    }
    const png = PNG.sync.read(readFileSync(path.join(out, 'before-after.png')));
    expect([png.width, png.height]).toEqual([2 * 128 + 3 * 4, 4 * 128 + 5 * 4]);
    expect(existsSync(path.join(out, 'lora', 'pytorch_lora_weights.safetensors'))).toBe(true);
  }, 600_000);
});

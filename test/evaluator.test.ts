// Evaluator from TypeScript on the tiny CLIP directories of
// test/python/make_evaluator_fixtures.py (scores made by transformers' CLIPModel
// and an independent torch composition of the adaLN layers) and the tiny SD-1.5
// pipeline of make_pipeline_fixtures.py: scoring images and latents, the pair
// rule, the pairs file format, training with abort and resume, save and load.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, DisposedError, Evaluator, Image, InvalidArgumentError, NotFoundError, Pipeline, Sampler, readPairs,
  type PreferencePair, type Progress, type Tensor,
} from '../lib/index';
import { imagesToTensor } from '../lib/runtime/image';
import { readSafetensors } from './safetensors';

const root = path.resolve(__dirname, '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-eval-'));
const fixtures = path.join(work, 'evaluator');
const pipelineFixtures = path.join(work, 'pipeline');
let refs: Map<string, Tensor>;
let pipe: Pipeline;

function float32(name: string): Tensor {
  const t = refs.get(name);
  if (!t) throw new Error(`no reference '${name}'`);
  return t;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A flat-colour RGB image with a little seeded texture. */
function flatImage(size: number, level: number, seed: number): Image {
  const data = new Uint8Array(size * size * 3);
  let s = seed;
  for (let i = 0; i < data.length; ++i) {
    s = (s * 16807) % 2147483647;
    data[i] = Math.max(0, Math.min(255, Math.round(level + ((s / 2147483647) - 0.5) * 40)));
  }
  return new Image(size, size, data);
}

/** The brighter image wins: a rule the model can learn. */
function brightnessPairs(n: number, size: number, seed: number): PreferencePair[] {
  return Array.from({ length: n }, (_, i) => {
    const dark = flatImage(size, 40, seed + 2 * i), bright = flatImage(size, 210, seed + 2 * i + 1);
    return i % 2 ? { prompt: 'a bright image', image0: dark, image1: bright, label: 1 as const }
      : { prompt: 'a bright image', image0: bright, image1: dark, label: 0 as const };
  });
}

beforeAll(async () => {
  for (const [script, out] of [['make_evaluator_fixtures.py', fixtures], ['make_pipeline_fixtures.py', pipelineFixtures]]) {
    const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'test', 'python', script!), out!],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
  }
  const stored = readSafetensors(path.join(fixtures, 'reference.safetensors'));
  refs = new Map();
  for (const [name, t] of stored) {
    if (t.dtype !== 'F32') continue;
    const copy = Buffer.from(t.bytes);
    refs.set(name, { data: new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4), shape: t.shape });
  }
  pipe = await Pipeline.load(path.join(pipelineFixtures, 'sd15'));
}, 120_000);

afterAll(() => {
  pipe?.dispose();
  rmSync(work, { recursive: true, force: true });
});

const prompts = ['a red circle above a blue square', 'two green triangles'];
// The least mean loss drop per step that training must show over a run whose steps change
// nothing (measured: 0.080, the drops of steps 2-4 being 0.005, 0.019 and 0.217).
const LOSS_GAIN = 0.03;

describe('Evaluator scoring', () => {
  it('matches transformers CLIPModel on a plain PickScore-layout directory', async () => {
    const ev = await Evaluator.load(path.join(fixtures, 'plain'));
    expect(ev.info).toMatchObject({ timeConditioning: 'plain', imageSize: 32, projectionDim: 24, device: 'cpu', dtype: 'fp32' });
    const scores = await ev.score({ images: float32('images_landscape'), prompts });
    expect(maxAbs(scores, float32('plain_scores').data)).toBeLessThan(1e-4);
    ev.dispose();
    await expect(ev.score({ images: float32('images_landscape'), prompts })).rejects.toBeInstanceOf(DisposedError);
  });

  it('matches an independent composition of the adaLN layers at every t, and per-image t', async () => {
    const ev = await Evaluator.load(path.join(fixtures, 'step_aware'));
    expect(ev.info.timeConditioning).toBe('step-aware');
    for (const t of [0, 251, 501, 701, 951]) {
      const s = await ev.score({ images: float32('images_landscape'), prompts, timesteps: t });
      expect(maxAbs(s, float32(`step_aware_scores_t${t}`).data)).toBeLessThan(1e-4);
    }
    const mixed = await ev.score({ images: float32('images_landscape'), prompts, timesteps: [101, 801] });
    expect(maxAbs(mixed, float32('step_aware_scores_mixed').data)).toBeLessThan(1e-4);
    ev.dispose();
  });

  it('adds untrained adaLN layers that leave PickScore unchanged at every t', async () => {
    const plain = await Evaluator.load(path.join(fixtures, 'plain'));
    const fresh = await Evaluator.load(path.join(fixtures, 'plain'), { timeConditioning: 'step-aware' });
    const images = float32('images_portrait');
    const base = await plain.score({ images, prompts });
    for (const t of [0, 500, 999]) expect(maxAbs(await fresh.score({ images, prompts, timesteps: t }), base)).toBeLessThan(2e-5);
    plain.dispose();
    fresh.dispose();
  });

  it('converts Image objects to [-1, 1] tensors and scores them', async () => {
    const img = flatImage(8, 100, 3);
    const t = imagesToTensor([img]);
    expect(t.shape).toEqual([1, 3, 8, 8]);
    expect(t.data[64 + 8 * 2 + 5]).toBeCloseTo(img.pixel(5, 2, 1) / 127.5 - 1, 6);  // channel 1, row 2, column 5
    const ev = await Evaluator.load(path.join(fixtures, 'plain'));
    // One prompt for both: the scores may differ only through the images.
    const images = [img, flatImage(8, 200, 4)], same = [prompts[0]!, prompts[0]!];
    const fromImages = await ev.score({ images, prompts: same });
    // The tensor path is the one checked against transformers above.
    expect(Array.from(fromImages)).toEqual(Array.from(await ev.score({ images: imagesToTensor(images), prompts: same })));
    expect(Math.abs(fromImages[0]! - fromImages[1]!)).toBeGreaterThan(1e-3);
    expect(() => imagesToTensor([img, flatImage(9, 1, 1)])).toThrow(InvalidArgumentError);
    ev.dispose();
  });

  it('scores latents through the base model: clean latents as their VAE decode', async () => {
    const ev = await Evaluator.load(path.join(fixtures, 'step_aware'));
    const sampler = new Sampler(pipe);
    const { latents, images } = await sampler.generateWithLatents({ prompts, steps: 2, seed: 5 });
    const clean = await ev.score({ latents, pipeline: pipe, prompts, timesteps: 0, clean: true });
    // The same images through the 8-bit PNG path differ only by rounding.
    const viaImages = await ev.score({ images, prompts, timesteps: 0 });
    expect(maxAbs(clean, viaImages)).toBeLessThan(0.5);
    const noisy = await ev.score({ latents, pipeline: pipe, prompts, timesteps: [500, 900] });
    expect(Array.from(noisy).every(Number.isFinite)).toBe(true);
    // Noisy scores read each row's own latent: with one prompt for both rows, swapping the
    // latents swaps the scores (a scorer that ignored the latents would give two equal ones).
    const same = [prompts[1]!, prompts[1]!];
    const half = latents.data.length / 2;
    const swapped = { data: Float32Array.from([...latents.data.subarray(half), ...latents.data.subarray(0, half)]), shape: latents.shape };
    const straight = await ev.score({ latents, pipeline: pipe, prompts: same, timesteps: [500, 500] });
    const reversed = await ev.score({ latents: swapped, pipeline: pipe, prompts: same, timesteps: [500, 500] });
    expect(Math.abs(straight[0]! - straight[1]!)).toBeGreaterThan(1e-4);
    expect(maxAbs(straight, [reversed[1]!, reversed[0]!])).toBeLessThan(1e-4);
    await expect(ev.score({ latents, prompts })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ev.score({ latents, pipeline: pipe, prompts: ['one'] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ev.score({ images: float32('images_square'), prompts, timesteps: 1000 })).rejects.toThrow(/\[0, 1000\)/);
    ev.dispose();
  });

  it('applies the pair rule of docs/method.md §2', () => {
    const d = Evaluator.compare([20, 21, 20.5, 20.2], 0.3);
    expect(d).toMatchObject({ winner: 1, loser: 0, kept: true });
    expect(d.margin).toBeCloseTo(Math.tanh(0.5), 12);
    expect(Evaluator.compare(new Float32Array([20, 21]), 0.47).kept).toBe(false);
    expect(() => Evaluator.compare([1], 0.3)).toThrow(InvalidArgumentError);
    expect(() => Evaluator.compare([1, Number.NaN], 0.3)).toThrow(InvalidArgumentError);
  });
});

describe('pairs files', () => {
  const dir = path.join(work, 'pairs');
  const line = (o: object) => JSON.stringify(o);

  beforeAll(async () => {
    mkdirSync(path.join(dir, 'img'), { recursive: true });
    await flatImage(16, 50, 1).savePNG(path.join(dir, 'img', 'a.png'));
    await flatImage(16, 200, 2).savePNG(path.join(dir, 'img', 'b.png'));
    await flatImage(24, 200, 2).savePNG(path.join(dir, 'img', 'big.png'));
    writeFileSync(path.join(dir, 'bad.png'), 'not a png');
  });

  it('reads the documented JSON Lines format', async () => {
    const file = path.join(dir, 'good.jsonl');
    writeFileSync(file, [line({ prompt: 'p', image_0: 'img/a.png', image_1: 'img/b.png', label: 1 }), '',
      line({ prompt: 'q', image_0: 'img/b.png', image_1: 'img/a.png', label: 'tie' })].join('\n'));
    const pairs = await readPairs(file);
    expect(pairs.map((p) => [p.prompt, p.label, p.image0.width])).toEqual([['p', 1, 16], ['q', 'tie', 16]]);
    expect(pairs[0]!.image1.pixel(0, 0, 0)).toBe(flatImage(16, 200, 2).pixel(0, 0, 0));
  });

  it('names the line of every malformed entry', async () => {
    const cases: [string, RegExp, Function][] = [
      [line({ prompt: 'p', image_0: 'img/a.png', image_1: 'img/b.png', label: 0 }) + '\n{oops', /line 2: not valid JSON/, InvalidArgumentError],
      [line({ prompt: 'p', image_0: 'img/a.png', image_1: 'img/b.png', label: 'yes' }), /line 1: field 'label'/, InvalidArgumentError],
      [line({ prompt: 'p', image_0: 'img/missing.png', image_1: 'img/b.png', label: 0 }), /line 1: image_0 .*missing\.png does not exist/, NotFoundError],
      [line({ prompt: 'p', image_0: 'img/a.png', image_1: 'bad.png', label: 0 }), /line 1: image_1: .*not a readable PNG/, InvalidArgumentError],
      [line({ prompt: 'p', image_0: 'img/a.png', image_1: 'img/b.png', label: 0 }) + '\n' +
        line({ prompt: 'p', image_0: 'img/big.png', image_1: 'img/b.png', label: 0 }), /line 2: an image is 24x24 but line 1's are 16x16/, InvalidArgumentError],
    ];
    for (const [text, message, type] of cases) {
      const file = path.join(dir, 'case.jsonl');
      writeFileSync(file, text);
      const err = await readPairs(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(type);
      expect((err as Error).message).toMatch(message);
    }
    await expect(readPairs(path.join(dir, 'none.jsonl'))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('Evaluator training', () => {
  it('trains with progress, aborts at a step boundary, resumes exactly, and saves a loadable model', async () => {
    const size = pipe.info.defaultSize;
    const train = brightnessPairs(6, size, 10), validation = brightnessPairs(4, size, 50);
    const request = { pipeline: pipe, train, validation, steps: 4, batchSize: 3, learningRate: 1e-3, warmupSteps: 1,
      validationTimesteps: [0, 951] };

    const reference = await Evaluator.load(path.join(fixtures, 'plain'), { timeConditioning: 'step-aware' });
    const events: Progress[] = [];
    const full = await reference.train(request, { onProgress: (p) => events.push(p) });
    expect(full.losses).toHaveLength(4);
    expect(events.filter((e) => e.stage === 'train').map((e) => e.step)).toEqual([1, 2, 3, 4]);
    expect(events.find((e) => e.stage === 'train')!.metrics).toHaveProperty('lr');
    expect(full.validations[0]!.timesteps).toEqual([0, 951]);
    expect(events.find((e) => e.stage === 'validate')!.metrics).toHaveProperty(['accuracy@951']);

    const checkpointDir = path.join(work, 'ckpt');
    const ev = await Evaluator.load(path.join(fixtures, 'plain'), { timeConditioning: 'step-aware' });
    const controller = new AbortController();
    const aborted = await ev.train({ ...request, checkpointDir }, {
      signal: controller.signal,
      onProgress: (p) => { if (p.stage === 'train' && p.step === 2) controller.abort(); },
    }).catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(AbortError);
    const resumed = await ev.train({ ...request, checkpointDir });
    // The abort reaches the job asynchronously: at the boundary after step 2 or inside step 3.
    expect([2, 3]).toContain(resumed.startStep);
    expect(resumed.losses).toEqual(full.losses.slice(resumed.startStep));

    // Training moves the weights the way the labels ask. Every step draws its
    // pairs, t and noise from (seed, step), so a run whose steps change nothing
    // (learning rate 1e-12) sees the very same batches: on steps 2-4 the trained
    // model's loss must be clearly lower than the unchanged model's.
    const still = await Evaluator.load(path.join(fixtures, 'plain'), { timeConditioning: 'step-aware' });
    const unchanged = await still.train({ ...request, validation: undefined, learningRate: 1e-12 });
    expect(unchanged.losses[0]).toBeCloseTo(full.losses[0]!, 6);  // step 1: the same weights, the same batch
    const gains = full.losses.slice(1).map((l, i) => unchanged.losses[i + 1]! - l);
    expect(gains.every((g) => g > 0), `loss gains ${gains}`).toBe(true);
    expect(gains.reduce((a, b) => a + b, 0) / gains.length, `loss gains ${gains}`).toBeGreaterThan(LOSS_GAIN);
    still.dispose();

    const saved = path.join(work, 'trained');
    await ev.save(saved);
    const back = await Evaluator.load(saved);
    expect(back.info.timeConditioning).toBe('step-aware');
    const images = float32('images_square');
    expect(Array.from(await back.score({ images, prompts, timesteps: 300 })))
      .toEqual(Array.from(await ev.score({ images, prompts, timesteps: 300 })));
    for (const e of [reference, ev, back]) e.dispose();
  }, 120_000);

  it('refuses bad requests with typed errors', async () => {
    const ev = await Evaluator.load(path.join(fixtures, 'plain'));
    const train = brightnessPairs(2, 16, 1);
    await expect(ev.train({ pipeline: pipe, train: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ev.train({ pipeline: pipe, train, steps: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ev.train({ pipeline: {} as Pipeline, train })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ev.train({ pipeline: pipe, train: [{ ...train[0]!, label: 2 as never }] })).rejects.toThrow(/label/);
    await expect(Evaluator.load(path.join(work, 'nowhere'))).rejects.toBeInstanceOf(NotFoundError);
    ev.dispose();
  });
});

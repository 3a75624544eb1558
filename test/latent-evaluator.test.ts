// The latent step-aware evaluator through the public API, on the shipped
// shapes-world models: created over the pixel evaluator's text tower, trained
// on pairs whose rule shows in the latents, saved and loaded back by
// Evaluator.load as the latent kind, scoring VAE-encoded latents (the ranking
// checked against the pairs' labels), SPO rounds with it (the sampling
// evaluations counted: no x0 prediction per candidate), and its refusals.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Evaluator, Image, InvalidArgumentError, Pipeline, Trainer, UnsupportedError, VAE, type PreferencePair,
} from '../lib/index';
import { imagesToTensor } from '../lib/runtime/image';
import { tensor } from '../lib/runtime/tensor';

const root = path.resolve(__dirname, '..');
const assets = path.join(root, 'assets', 'shapes-world');
const pixelDir = path.join(assets, 'evaluator-step-aware');
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-latent-'));
let pipe: Pipeline;

function flatImage(size: number, level: number, seed: number): Image {
  const data = new Uint8Array(size * size * 3);
  let s = seed;
  for (let i = 0; i < data.length; ++i) {
    s = (s * 16807) % 2147483647;
    data[i] = Math.max(0, Math.min(255, Math.round(level + ((s / 2147483647) - 0.5) * 40)));
  }
  return new Image(size, size, data);
}

/** The brighter image wins. */
function brightnessPairs(n: number, seed: number): PreferencePair[] {
  return Array.from({ length: n }, (_, i) => {
    const dark = flatImage(32, 40, seed + 2 * i), bright = flatImage(32, 210, seed + 2 * i + 1);
    const prompt = i % 3 ? 'a red circle' : 'a blue square above a green diamond';
    return i % 2 ? { prompt, image0: dark, image1: bright, label: 1 as const }
      : { prompt, image0: bright, image1: dark, label: 0 as const };
  });
}

beforeAll(async () => {
  pipe = await Pipeline.load(path.join(assets, 'base'));
});

afterAll(() => {
  pipe?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('latent evaluator', () => {
  it('trains, saves, loads back as its kind and ranks VAE-encoded latents as the labels say', async () => {
    const latent = await Evaluator.createLatent(pixelDir, { width: 16, groups: 4, blocks: 2, seed: 1 });
    expect(latent.kind).toBe('latent-step-aware');
    expect(latent.info).toMatchObject({ kind: 'latent-step-aware', latentChannels: 4, width: 16, blocks: 2 });
    const train = brightnessPairs(24, 1), validation = brightnessPairs(12, 100);
    const r = await latent.train({ pipeline: pipe, train, validation, steps: 60, batchSize: 8, learningRate: 3e-3,
      warmupSteps: 5, validationTimesteps: [0, 999] });
    expect(r.losses).toHaveLength(60);
    expect(r.validations.at(-1)!.accuracy[0]).toBeGreaterThanOrEqual(0.9);
    const dir = path.join(work, 'latent');
    await latent.save(dir);

    const back = await Evaluator.load(dir);
    expect(back.kind).toBe('latent-step-aware');
    // The same accuracies from the loaded folder: the weights came back exactly.
    const report = await back.validate({ pipeline: pipe, pairs: validation, timesteps: [0, 999] });
    expect(report.accuracy).toEqual(r.validations.at(-1)!.accuracy);

    // Score clean latents (the VAE posterior mean, scaled) of the validation pairs at t = 0 through
    // the public API: the preferred image of every pair must score higher.
    const vae = await VAE.load(path.join(assets, 'base', 'vae'));
    const encode = async (images: Image[]) => {
      const mean = (await vae.encode(imagesToTensor(images))).mean;
      return tensor(Float32Array.from(mean.data as Float32Array, (v) => v * vae.scalingFactor), mean.shape);
    };
    const first = await encode(validation.map((p) => p.image0)), second = await encode(validation.map((p) => p.image1));
    const prompts = validation.map((p) => p.prompt);
    const s0 = await back.score({ latents: first, prompts, timesteps: 0 });
    const s1 = await back.score({ latents: second, prompts, timesteps: 0 });
    expect(s0).toHaveLength(12);
    const right = validation.filter((p, i) => (s0[i]! > s1[i]!) === (p.label === 0)).length;
    expect(right).toBeGreaterThanOrEqual(11);
    // Scores depend on t: the same latents at t = 999 give other numbers.
    const late = await back.score({ latents: first, prompts, timesteps: 999 });
    expect(Array.from(late)).not.toEqual(Array.from(s0));
    vae.dispose();
    latent.dispose();
    back.dispose();
  }, 120_000);

  it('drives SPO rounds with one guided evaluation per trajectory step (no x0 prediction per candidate)', async () => {
    const latent = await Evaluator.createLatent(pixelDir, { width: 16, groups: 4, blocks: 2, seed: 2 });
    const round = { steps: 6, divertStartStep: 2, k: 3, sampleBatchSize: 2, trainBatchSize: 4, threshold: 0,
      guidanceScale: 5, learningRate: 1e-4, seed: 5, maxRounds: 1 };
    const prompts = ['a red circle', 'a blue square'];
    const latentRun = await new Trainer({ pipeline: pipe, evaluator: latent, prompts, ...round }).train();
    // The latent path: 2 prompts x 6 steps (plain steps, the branch eps, the kept candidate's eps).
    expect(latentRun.samplingEvaluations).toBe(2 * 6);
    expect(latentRun.pairsKept).toBeGreaterThan(0);
    expect(latentRun.optimizerSteps).toBeGreaterThan(0);
    // The pixel path adds k x0 predictions per prompt at every non-final branch step: 2 x (2 + 1 + 3 x 3).
    const pixelPipe = await Pipeline.load(path.join(assets, 'base'));
    const pixel = await Evaluator.load(pixelDir);
    const pixelRun = await new Trainer({ pipeline: pixelPipe, evaluator: pixel, prompts, ...round }).train();
    expect(pixelRun.samplingEvaluations).toBe(2 * (2 + 1 + 3 * 3));
    pixel.dispose();
    pixelPipe.dispose();
    latent.dispose();
  }, 120_000);

  it('refuses what does not apply to it, with typed errors', async () => {
    const latent = await Evaluator.createLatent(pixelDir, { width: 16, groups: 4, blocks: 1 });
    const images = imagesToTensor([flatImage(32, 100, 1)]);
    await expect(latent.score({ images, prompts: ['a red circle'] })).rejects.toThrow(InvalidArgumentError);
    const latents = tensor(new Float32Array(4 * 16 * 16), [1, 4, 16, 16]);
    await expect(latent.score({ latents, prompts: ['a red circle'], guidanceScale: 5 })).rejects.toThrow(/guidanceScale/);
    await expect(latent.score({ latents: tensor(new Float32Array(3 * 16 * 16), [1, 3, 16, 16]), prompts: ['a'] }))
      .rejects.toThrow(InvalidArgumentError);
    await expect(latent.score({ latents, prompts: ['a'], timesteps: 1000 })).rejects.toThrow(InvalidArgumentError);
    await expect(latent.train({ pipeline: pipe, train: brightnessPairs(2, 1), checkpointDir: work }))
      .rejects.toThrow(UnsupportedError);
    await expect(Evaluator.createLatent(pixelDir, { width: 18, groups: 4 })).rejects.toThrow(InvalidArgumentError);
    const dir = path.join(work, 'refusals');
    await latent.save(dir);
    await expect(Evaluator.load(dir, { timeConditioning: 'step-aware' })).rejects.toThrow(UnsupportedError);
    latent.dispose();
  }, 60_000);
});

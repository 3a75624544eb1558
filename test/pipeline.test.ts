// Pipeline and Sampler from TypeScript on the tiny SD-1.5 / SDXL directories of
// test/python/make_pipeline_fixtures.py: the same pixels as diffusers'
// pipelines, PNG output, cancellation, the SPO candidates (chains of several transitions, maxBatch),
// LoRA files on a loaded pipeline and refusals.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DisposedError, Image, InvalidArgumentError, Pipeline, Sampler, type Tensor } from '../lib/index';
import { handStep, scaledLinearAlphasCumprod } from './helpers';
import { readSafetensors as readStored } from './safetensors';

const root = path.resolve(__dirname, '..');
const fixtures = mkdtempSync(path.join(os.tmpdir(), 'spo-pipe-'));
type Case = { pipeline: string; prompts: string[]; negative: string | null; steps: number; guidance: number; height: number; width: number };
let cases: Record<string, Case>;
let refs: Record<string, Tensor>;
const pipelines: Record<string, Pipeline> = {};
// Images of the abort test: big enough that a denoising step outlasts a progress message's trip to JavaScript.
const STOP_SIZE = 64;

/** The float32 tensors of a safetensors file (all the fixture holds). */
function readSafetensors(file: string): Record<string, Tensor> {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out: Record<string, Tensor> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets;
    const raw = bytes.subarray(8 + headerLength + begin, 8 + headerLength + end);
    out[name] = { data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), shape: entry.shape };
  }
  return out;
}

/** diffusers' 8-bit image: round(x * 255) of its [0, 1] output, [B, 3, H, W] -> image b's interleaved RGB. */
function expectedPixels(image: Tensor, b: number): Uint8Array {
  const [, , h, w] = image.shape as [number, number, number, number];
  const out = new Uint8Array(h * w * 3);
  for (let c = 0; c < 3; ++c) {
    for (let i = 0; i < h * w; ++i) out[i * 3 + c] = Math.round(image.data[(b * 3 + c) * h * w + i]! * 255);
  }
  return out;
}

function maxDifference(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * A diffusers-style LoRA file for the UNet weights in `unetFile`: rank-2 lora_A / lora_B of
 * small seeded values on every attention projection (to_q, to_k, to_v, to_out.0), shapes read
 * from the UNet's own header; `badShape` makes every lora_A one column too wide. Returns the layer count.
 */
function writeLora(unetFile: string, file: string, badShape = false): number {
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  let state = 7;
  const random = () => { state = (state * 16807) % 2147483647; return state / 2147483647 - 0.5; };
  const add = (name: string, shape: [number, number]) => {
    const data = Float32Array.from({ length: shape[0] * shape[1] }, () => 0.2 * random());
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    chunks.push(Buffer.from(data.buffer));
  };
  let layers = 0;
  for (const [name, t] of readStored(unetFile)) {
    const module = /^(.*\.(?:to_q|to_k|to_v|to_out\.0))\.weight$/.exec(name)?.[1];
    if (!module) continue;
    const [out, inputs] = t.shape as [number, number];
    add(`unet.${module}.lora_A.weight`, [2, badShape ? inputs + 1 : inputs]);
    add(`unet.${module}.lora_B.weight`, [out, 2]);
    ++layers;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);  // data 8-byte aligned, as safetensors writes it
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([length, Buffer.from(json, 'utf8'), ...chunks]));
  return layers;
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let m = 0;
  a.forEach((v, i) => { m = Math.max(m, Math.abs(v - b[i]!)); });
  return m;
}

beforeAll(async () => {
  const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'test', 'python', 'make_pipeline_fixtures.py'), fixtures],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
  cases = JSON.parse(readFileSync(path.join(fixtures, 'cases.json'), 'utf8'));
  refs = readSafetensors(path.join(fixtures, 'references.safetensors'));
  for (const name of ['sd15', 'sdxl']) pipelines[name] = await Pipeline.load(path.join(fixtures, name));
}, 120_000);

afterAll(() => {
  for (const p of Object.values(pipelines)) p.dispose();
  rmSync(fixtures, { recursive: true, force: true });
});

describe('Pipeline', () => {
  it('loads SD-1.5 and SDXL directories and tells them apart', () => {
    expect(pipelines.sd15!.info).toMatchObject({ kind: 'sd15', device: 'cpu', dtype: 'fp32', vaeScaleFactor: 8, latentChannels: 4 });
    expect(pipelines.sdxl!.info.kind).toBe('sdxl');
  });

  it('refuses missing directories and bad options with typed errors', async () => {
    await expect(Pipeline.load(path.join(fixtures, 'nope'))).rejects.toMatchObject({ code: 'ERR_SPO_NOT_FOUND' });
    await expect(Pipeline.load(path.join(fixtures, 'sd15'), { dtype: 'fp64' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Pipeline.load(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => new Sampler({} as never)).toThrow(InvalidArgumentError);
  });
});

describe('Sampler.generate', () => {
  it('gives the pixels of diffusers\' own pipelines (DDIM, eta 0, guidance 5, given x_T)', async () => {
    for (const [name, c] of Object.entries(cases)) {
      const sampler = new Sampler(pipelines[c.pipeline]!);
      const images = await sampler.generate({
        prompts: c.prompts, negativePrompt: c.negative ?? undefined, steps: c.steps, guidanceScale: c.guidance, eta: 0,
        width: c.width, height: c.height, initialLatents: refs[`${name}.initial`],
      });
      expect(images).toHaveLength(c.prompts.length);
      images.forEach((image, b) => {
        expect(image).toBeInstanceOf(Image);
        expect([image.width, image.height]).toEqual([c.width, c.height]);
        expect(maxDifference(image.data, expectedPixels(refs[`${name}.image`]!, b)), name).toBeLessThanOrEqual(1);
      });
    }
  });

  it('returns the final latents of the reference too', async () => {
    const c = cases.sd15!;
    const out = await new Sampler(pipelines.sd15!).generateWithLatents({
      prompts: c.prompts, steps: c.steps, eta: 0, width: c.width, height: c.height, initialLatents: refs['sd15.initial'],
    });
    const expected = refs['sd15.latents']!;
    expect(out.latents.shape).toEqual(expected.shape);
    let err = 0;
    out.latents.data.forEach((v, i) => { err = Math.max(err, Math.abs(v - expected.data[i]!)); });
    expect(err).toBeLessThan(1e-4);
  });

  it('is reproducible from a seed and reports progress per step', async () => {
    const sampler = new Sampler(pipelines.sd15!);
    const stages: string[] = [];
    const request = { prompts: ['a cat'], steps: 3, seed: 5, width: 32, height: 32 };
    const a = await sampler.generate(request, { onProgress: (p) => stages.push(`${p.stage} ${p.step}/${p.total}`) });
    const b = await sampler.generate(request);
    expect(Buffer.from(a[0]!.data).equals(Buffer.from(b[0]!.data))).toBe(true);
    expect(stages).toEqual(['denoise 1/3', 'denoise 2/3', 'denoise 3/3', 'decode 1/1']);
    const c = await sampler.generate({ ...request, seed: 6 });
    expect(Buffer.from(a[0]!.data).equals(Buffer.from(c[0]!.data))).toBe(false);
  });

  it('writes PNG files that read back to the same pixels', async () => {
    const [image] = await new Sampler(pipelines.sdxl!).generate({ prompts: ['a castle'], steps: 2, width: 48, height: 32 });
    const file = path.join(fixtures, 'out', 'castle.png');
    await image!.savePNG(file);
    const png = PNG.sync.read(readFileSync(file));
    expect([png.width, png.height]).toEqual([48, 32]);
    for (let i = 0; i < 48 * 32; ++i) {
      for (let c = 0; c < 3; ++c) expect(png.data[i * 4 + c]).toBe(image!.data[i * 3 + c]);
    }
    expect(image!.pixel(1, 0, 2)).toBe(image!.data[5]);
  });

  it('stops at the step boundary after the abort', async () => {
    // The abort sets the job's flag when step 2's progress reaches JavaScript;
    // the job checks the flag before every denoising step (the job runner's
    // contract), so it stops before step 3, or right after step 3 if that had
    // begun. One step of slack for a loaded machine that delivers progress late.
    const controller = new AbortController();
    const steps: number[] = [];
    const run = new Sampler(pipelines.sd15!).generate({ prompts: ['a cat', 'a dog'], steps: 50, width: STOP_SIZE, height: STOP_SIZE }, {
      signal: controller.signal,
      onProgress: (p) => {
        expect(p.stage).toBe('denoise');  // never decoded
        steps.push(p.step);
        if (p.step === 2) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps.length, `progress of steps ${steps}`).toBeLessThanOrEqual(4);
  });

  it('refuses bad requests with InvalidArgumentError', async () => {
    const sampler = new Sampler(pipelines.sd15!);
    const bad = [
      { prompts: ['x'], width: 36, height: 32 },
      { prompts: ['x'], steps: 0 },
      { prompts: [] },
      { prompts: 'x' },
      { prompts: ['x'], etta: 1 },
      { prompts: ['x'], guidanceScale: Number.NaN },
      { prompts: ['x'], width: 32, height: 32, initialLatents: { data: new Float32Array(3), shape: [3] } },
    ];
    for (const request of bad) {
      await expect(sampler.generate(request as never), JSON.stringify(request)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(sampler.generate(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('refuses a disposed pipeline', async () => {
    const p = await Pipeline.load(path.join(fixtures, 'sd15'));
    p.dispose();
    await expect(new Sampler(p).generate({ prompts: ['x'] })).rejects.toBeInstanceOf(DisposedError);
  });
});

describe('Sampler.candidates', () => {
  it('draws k candidates per prompt from one x_t, with log-probs, x0 and images', async () => {
    const sampler = new Sampler(pipelines.sd15!);
    const latents = { data: Float32Array.from({ length: 2 * 4 * 16 }, (_, i) => Math.sin(i)), shape: [2, 4, 4, 4] };
    const modelOutput = { data: Float32Array.from({ length: 2 * 4 * 16 }, (_, i) => Math.cos(i)), shape: [2, 4, 4, 4] };
    const out = await sampler.candidates({
      prompts: ['a cat', 'a dog'], latents, modelOutput, timestep: 501, steps: 10, k: 3, decode: true, seed: 1,
    });
    expect(out.prevTimestep).toBe(401);
    expect(out.candidates.shape).toEqual([2, 3, 4, 4, 4]);
    expect(out.logProbs.shape).toEqual([2, 3]);
    // Each log-prob by the DDIM formula of docs/method.md §1 (test/helpers.ts, in double
    // precision): SD's alpha_bar at t = 501 and 401, eta 1, the candidate's own x_prev.
    const alphaBar = scaledLinearAlphasCumprod();
    const n = 4 * 16;
    for (let p = 0; p < 2; p++) {
      const x = latents.data.subarray(p * n, (p + 1) * n), eps = modelOutput.data.subarray(p * n, (p + 1) * n);
      const mean = handStep(x, eps, new Float32Array(n), alphaBar[501]!, alphaBar[401]!, 1);
      for (let c = 0; c < 3; c++) {
        const prev = out.candidates.data.subarray((p * 3 + c) * n, (p * 3 + c + 1) * n);
        const noise = Array.from(prev, (v, e) => (v - mean.mean[e]!) / mean.std);
        const want = handStep(x, eps, noise, alphaBar[501]!, alphaBar[401]!, 1).logProb;
        expect(out.logProbs.data[p * 3 + c], `prompt ${p} candidate ${c}`).toBeCloseTo(want, 4);
      }
    }
    expect(out.predOriginal!.shape).toEqual([2, 3, 4, 4, 4]);
    expect(out.modelOutput!.shape).toEqual([2, 3, 4, 4, 4]);
    expect(out.images!.map((row) => row.length)).toEqual([3, 3]);
    expect([out.images![1]![2]!.width, out.images![1]![2]!.height]).toEqual([32, 32]);
    await expect(sampler.candidates({ prompts: ['a', 'b'], latents, modelOutput, timestep: 500, steps: 10 }))
      .rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('follows each candidate for transitionsPerChain transitions and refuses chains past the schedule', async () => {
    const sampler = new Sampler(pipelines.sd15!);
    const latents = { data: Float32Array.from({ length: 4 * 16 }, (_, i) => Math.sin(i)), shape: [1, 4, 4, 4] };
    const modelOutput = { data: Float32Array.from({ length: 4 * 16 }, (_, i) => Math.cos(i)), shape: [1, 4, 4, 4] };
    const request = { prompts: ['a cat'], latents, modelOutput, timestep: 501, steps: 10, k: 2, seed: 1 };
    const one = await sampler.candidates(request);
    expect(one.chain.shape).toEqual([1, 2, 1, 4, 4, 4]);
    expect(Array.from(one.chain.data)).toEqual(Array.from(one.candidates.data));
    const out = await sampler.candidates({ ...request, transitionsPerChain: 3 });
    expect(out.chainTimesteps).toEqual([501, 401, 301]);
    expect(out.prevTimestep).toBe(201);
    expect(out.chain.shape).toEqual([1, 2, 3, 4, 4, 4]);
    expect(out.chainLogProbs.shape).toEqual([1, 2, 3]);
    expect(out.candidates.shape).toEqual([1, 2, 4, 4, 4]);
    // The first transition is the single branch step of the same seed.
    expect(Array.from(out.chain.data.subarray(0, 64))).toEqual(Array.from(one.candidates.data.subarray(0, 64)));
    for (const transitionsPerChain of [0, 7, 1.5]) {
      await expect(sampler.candidates({ ...request, transitionsPerChain }), String(transitionsPerChain)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });

  it('gives the same results under a maxBatch memory budget', async () => {
    const sampler = new Sampler(pipelines.sd15!);
    const request = { prompts: ['a cat', 'a dog'], steps: 2, seed: 3, width: 32, height: 32 };
    const whole = await sampler.generateWithLatents(request);
    const split = await sampler.generateWithLatents({ ...request, maxBatch: 3 });
    // Chunks round differently (CPU kernels block by batch size): equal to 1e-5 of the largest magnitude.
    let err = 0;
    let scale = 1;
    split.latents.data.forEach((v, i) => {
      err = Math.max(err, Math.abs(v - whole.latents.data[i]!));
      scale = Math.max(scale, Math.abs(whole.latents.data[i]!));
    });
    expect(err / scale).toBeLessThan(1e-5);
    await expect(sampler.generate({ ...request, maxBatch: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('Pipeline LoRA', () => {
  const request = { prompts: ['a cat'], steps: 2, seed: 11, width: 32, height: 32 };
  const latents = async (p: Pipeline) => (await new Sampler(p).generateWithLatents(request)).latents.data;
  const unetFile = () => path.join(fixtures, 'sd15', 'unet', 'diffusion_pytorch_model.safetensors');

  it('loads, switches, saves, reloads and merges a diffusers LoRA file', async () => {
    const loraFile = path.join(fixtures, 'lora.safetensors');
    const layers = writeLora(unetFile(), loraFile);
    const pipe = await Pipeline.load(path.join(fixtures, 'sd15'));
    const fresh = await Pipeline.load(path.join(fixtures, 'sd15'));
    try {
      const base = await latents(pipe);
      expect(pipe.hasLora).toBe(false);
      await expect(pipe.saveLora(path.join(fixtures, 'none.safetensors'))).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await pipe.loadLora(loraFile)).toEqual({ layers, skippedKeys: 0 });
      expect(pipe.hasLora).toBe(true);
      const enabled = await latents(pipe);
      expect(maxAbsDifference(enabled, base)).toBeGreaterThan(1e-3);
      pipe.setLoraEnabled(false);
      expect(Array.from(await latents(pipe))).toEqual(Array.from(base));  // off: exactly the base model
      pipe.setLoraEnabled(true);
      await expect(pipe.loadLora(loraFile)).rejects.toBeInstanceOf(InvalidArgumentError);  // one LoRA at a time

      const saved = path.join(fixtures, 'saved-lora.safetensors');
      await pipe.saveLora(saved);
      await fresh.loadLora(saved);
      expect(Array.from(await latents(fresh))).toEqual(Array.from(enabled));
      expect(await fresh.mergeLora()).toBe(layers);
      expect(fresh.hasLora).toBe(false);
      expect(maxAbsDifference(await latents(fresh), enabled)).toBeLessThan(1e-4);
    } finally {
      pipe.dispose();
      fresh.dispose();
    }
  });

  it('refuses missing, malformed and misfitting files and keeps working', async () => {
    const pipe = pipelines.sd15!;
    const base = await latents(pipe);
    await expect(pipe.loadLora(path.join(fixtures, 'nope.safetensors'))).rejects.toMatchObject({ code: 'ERR_SPO_NOT_FOUND' });
    const garbage = path.join(fixtures, 'garbage.safetensors');
    writeFileSync(garbage, 'not a safetensors file at all');
    await expect(pipe.loadLora(garbage)).rejects.toBeInstanceOf(InvalidArgumentError);
    const misfit = path.join(fixtures, 'misfit.safetensors');
    writeLora(unetFile(), misfit, true);
    await expect(pipe.loadLora(misfit)).rejects.toThrow(/shape|lora_A|down/);
    await expect(pipe.loadLora(misfit)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(pipe.loadLora(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(pipe.hasLora).toBe(false);
    expect(() => pipe.setLoraEnabled(true)).toThrow(InvalidArgumentError);
    await expect(pipe.mergeLora()).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(Array.from(await latents(pipe))).toEqual(Array.from(base));
  });
});

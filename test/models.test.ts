// The model handles from TypeScript against diffusers / transformers: tiny
// random models written by test/python/fixtures_*.py with their reference
// outputs (float32), compared at 1e-4; then bad arguments, bad files and
// dispose(), which must all end in typed errors with the process alive.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, DisposedError, InvalidArgumentError, SpoError, TextEncoder, UNet, UnsupportedError, VAE, buildInfo,
  type Tensor, type Tokenizer,
} from '../lib/index';
import { maxScaledError } from './helpers';
import { f32, i64AsI32, readSafetensors } from './safetensors';

const root = path.resolve(__dirname, '..');
const fixtures = mkdtempSync(path.join(os.tmpdir(), 'spo-models-'));
const unetDir = (name: string) => path.join(fixtures, 'unet', name);
const vaeDir = path.join(fixtures, 'vae', 'tiny');
const clipDir = (name: string) => path.join(fixtures, 'clip', name);

beforeAll(() => {
  const script = `import sys; sys.path.insert(0, 'test/python')
import fixtures_unet, fixtures_vae, fixtures_clip_text
out = sys.argv[1]
fixtures_unet.make(out + '/unet'); fixtures_vae.make(out + '/vae'); fixtures_clip_text.make(out + '/clip')`;
  const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), ['-c', script, fixtures], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
});

afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

function expectClose(got: Tensor, want: Tensor, tolerance = 1e-4): void {
  expect(got.shape).toEqual(want.shape);
  expect(got.data).toBeInstanceOf(Float32Array);
  expect(maxScaledError(got.data, want.data)).toBeLessThan(tolerance);
}

/** A copy of a component directory whose weights file is cut in half. */
function truncatedCopy(dir: string, weights: string): string {
  const copy = mkdtempSync(path.join(fixtures, 'corrupt-'));
  cpSync(dir, copy, { recursive: true });
  const file = path.join(copy, weights);
  const bytes = readFileSync(file);
  writeFileSync(file, bytes.subarray(0, Math.floor(statSync(file).size / 2)));
  return copy;
}

describe('UNet', () => {
  for (const [name, sdxl] of [['sd15_tiny', false], ['sdxl_tiny', true], ['sd15_odd', false]] as const) {
    it(`matches diffusers (${name}), per-sample and single timesteps`, async () => {
      const io = readSafetensors(path.join(fixtures, 'unet', `${name}_io.safetensors`));
      const unet = await UNet.load(unetDir(name));
      const sample = f32(io, 'sample');
      const added = sdxl ? { textEmbeds: f32(io, 'text_embeds'), timeIds: f32(io, 'time_ids') } : {};
      const input = { sample, encoderHiddenStates: f32(io, 'encoder_hidden_states'), ...added };
      const timesteps = Array.from(f32(io, 'timesteps').data);
      expectClose(await unet.forward({ ...input, timesteps }), f32(io, 'expected'));
      expectClose(await unet.forward({ ...input, timesteps: 10 }), f32(io, 'expected_t10'));
      expect(unet.config.inChannels).toBe(4);
      expect(unet.config.additionEmbedType).toBe(sdxl ? 'text_time' : null);
      expect(unet.options).toEqual({ device: 'cpu', dtype: 'fp32' });
      unet.dispose();
    });
  }

  it('reports its config', async () => {
    const unet = await UNet.load(unetDir('sdxl_tiny'));
    expect(unet.config).toMatchObject({
      inChannels: 4, outChannels: 4, sampleSize: 16, crossAttentionDim: 64, blockOutChannels: [32, 64],
      additionEmbedType: 'text_time', additionTimeEmbedDim: 8, projectionClassEmbeddingsInputDim: 64,
    });
    unet.dispose();
  });

  it('runs in bf16 close to the fp32 reference', async () => {
    const io = readSafetensors(path.join(fixtures, 'unet', 'sd15_tiny_io.safetensors'));
    const unet = await UNet.load(unetDir('sd15_tiny'), { dtype: 'bf16' });
    expect(unet.options).toEqual({ device: 'cpu', dtype: 'bf16' });
    const out = await unet.forward({
      sample: f32(io, 'sample'), timesteps: 10, encoderHiddenStates: f32(io, 'encoder_hidden_states'),
    });
    // bf16 keeps about 3 significant digits: compare the error's norm to the signal's.
    const want = f32(io, 'expected_t10').data;
    let err = 0, norm = 0;
    for (let i = 0; i < want.length; i++) {
      err += (out.data[i]! - want[i]!) ** 2;
      norm += want[i]! ** 2;
    }
    expect(out.shape).toEqual([2, 4, 16, 16]);
    expect(Math.sqrt(err / norm)).toBeLessThan(0.05);
    unet.dispose();
  });

  it('refuses bad arguments with InvalidArgumentError', async () => {
    const io = readSafetensors(path.join(fixtures, 'unet', 'sdxl_tiny_io.safetensors'));
    const unet = await UNet.load(unetDir('sdxl_tiny'));
    const good = {
      sample: f32(io, 'sample'), timesteps: [999, 1], encoderHiddenStates: f32(io, 'encoder_hidden_states'),
      textEmbeds: f32(io, 'text_embeds'), timeIds: f32(io, 'time_ids'),
    };
    const bad: [string, object][] = [
      ['no added conditions (SDXL)', { ...good, textEmbeds: undefined, timeIds: undefined }],
      ['wrong channels', { ...good, sample: { data: new Float32Array(2 * 3 * 16 * 12), shape: [2, 3, 16, 12] } }],
      ['3-D sample', { ...good, sample: { data: good.sample.data, shape: [8, 16, 12] } }],
      ['shape and length disagree', { ...good, sample: { data: new Float32Array(5), shape: [2, 4, 16, 12] } }],
      ['negative size', { ...good, sample: { data: new Float32Array(0), shape: [2, -4, 16, 12] } }],
      ['Float64Array data', { ...good, sample: { data: new Float64Array(1536), shape: [2, 4, 16, 12] } }],
      ['sample not an object', { ...good, sample: 'x' }],
      ['wrong context width', { ...good, encoderHiddenStates: { data: new Float32Array(2 * 5 * 8), shape: [2, 5, 8] } }],
      ['three timesteps for two samples', { ...good, timesteps: [1, 2, 3] }],
      ['fractional timestep', { ...good, timesteps: 1.5 }],
      ['negative timestep', { ...good, timesteps: -1 }],
      ['timesteps as a string', { ...good, timesteps: '10' }],
      ['unknown key', { ...good, encoderHiddenState: good.encoderHiddenStates }],
    ];
    for (const [what, args] of bad) {
      await expect(unet.forward(args as never), what).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(unet.forward(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    const sd15 = await UNet.load(unetDir('sd15_tiny'));
    const io15 = readSafetensors(path.join(fixtures, 'unet', 'sd15_tiny_io.safetensors'));
    await expect(sd15.forward({
      sample: f32(io15, 'sample'), timesteps: 1, encoderHiddenStates: f32(io15, 'encoder_hidden_states'),
      textEmbeds: good.textEmbeds, timeIds: good.timeIds,
    })).rejects.toThrow(/no added conditioning/);
    // Still usable after every refusal.
    expectClose(await unet.forward(good), f32(io, 'expected'));
    unet.dispose();
    sd15.dispose();
  });
});

describe('VAE', () => {
  it('matches diffusers: encode, decode, decodeLatents', async () => {
    const ref = readSafetensors(path.join(fixtures, 'vae', 'tiny_reference.safetensors'));
    const vae = await VAE.load(vaeDir);
    expect(vae.scalingFactor).toBeCloseTo(0.18215, 6);
    expect(vae.shiftFactor).toBeNull();
    expect(vae.config).toMatchObject({ inChannels: 3, latentChannels: 4, downscaleFactor: 2 });
    const { mean, logvar } = await vae.encode(f32(ref, 'image'));
    expectClose(mean, f32(ref, 'mean'));
    expectClose(logvar, f32(ref, 'logvar'));
    const latent = f32(ref, 'latent');
    expectClose(await vae.decode(latent), f32(ref, 'decoded'));
    const scaled = { data: latent.data.map((v) => v * vae.scalingFactor), shape: latent.shape };
    expectClose(await vae.decodeLatents(scaled), f32(ref, 'decoded'));
    vae.dispose();
  });

  it('loads a pre-0.14 checkpoint (old attention names) to the same numbers', async () => {
    const ref = readSafetensors(path.join(fixtures, 'vae', 'tiny_reference.safetensors'));
    const vae = await VAE.load(path.join(fixtures, 'vae', 'tiny_legacy'));
    expectClose(await vae.decode(f32(ref, 'latent')), f32(ref, 'decoded'));
    vae.dispose();
  });

  it('refuses bad arguments with InvalidArgumentError', async () => {
    const vae = await VAE.load(vaeDir);
    await expect(vae.encode({ data: new Float32Array(4 * 8 * 8), shape: [1, 4, 8, 8] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(vae.decode({ data: new Float32Array(3 * 8 * 8), shape: [1, 3, 8, 8] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(vae.decodeLatents({ data: new Float32Array(4 * 8), shape: [4, 8] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(vae.decode({ data: new Float32Array(3), shape: [1, 4, 2, 2] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(vae.encode([1, 2, 3] as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    vae.dispose();
  });
});

describe('TextEncoder', () => {
  for (const name of ['legacy_eos', 'eos_gelu', 'projection']) {
    it(`matches transformers (${name})`, async () => {
      const ref = readSafetensors(path.join(clipDir(name), 'reference.safetensors'));
      const encoder = await TextEncoder.load(clipDir(name));
      const projection = name === 'projection';
      expect(encoder.config.architecture).toBe(projection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel');
      expect(encoder.config.projectionDim).toBe(projection ? 24 : null);
      const out = await encoder.forward(i64AsI32(ref, 'input_ids'));
      expectClose(out.lastHiddenState, f32(ref, 'last_hidden_state'));
      expectClose(out.penultimateHiddenState, f32(ref, 'penultimate_hidden_state'));
      expectClose(out.pooled, f32(ref, 'pooler_output'));
      if (projection) expectClose(out.textEmbeds!, f32(ref, 'text_embeds'));
      else expect(out.textEmbeds).toBeUndefined();
      encoder.dispose();
    });
  }

  it('picks the class from the weights when config.json names no architecture', async () => {
    const copy = mkdtempSync(path.join(fixtures, 'noarch-'));
    cpSync(clipDir('projection'), copy, { recursive: true });
    const configPath = path.join(copy, 'config.json');
    const config = JSON.parse(readFileSync(configPath, 'utf8'));
    delete config.architectures;
    writeFileSync(configPath, JSON.stringify(config));
    const encoder = await TextEncoder.load(copy);
    expect(encoder.config.architecture).toBe('CLIPTextModelWithProjection');
    encoder.dispose();
  });

  it("accepts the Tokenizer's encodeBatch output and refuses bad ids", async () => {
    const encoder = await TextEncoder.load(clipDir('legacy_eos'));
    // encodeBatch's return type is accepted as is (checked by the compiler).
    const batch: ReturnType<Tokenizer['encodeBatch']> = { data: new Int32Array([998, 5, 999, 999]), shape: [1, 4] };
    expect((await encoder.forward(batch)).lastHiddenState.shape).toEqual([1, 4, 32]);
    const bad: [string, unknown][] = [
      ['Float32Array ids', { data: new Float32Array(4), shape: [1, 4] }],
      ['1-D shape', { data: new Int32Array(4), shape: [4] }],
      ['shape and length disagree', { data: new Int32Array(4), shape: [2, 4] }],
      ['negative size', { data: new Int32Array(4), shape: [-1, 4] }],
      ['id beyond the vocabulary', { data: new Int32Array([998, 1000]), shape: [1, 2] }],
      ['negative id', { data: new Int32Array([998, -1]), shape: [1, 2] }],
      ['too long', { data: new Int32Array(78), shape: [1, 78] }],
      ['not an object', 'a prompt'],
    ];
    for (const [what, ids] of bad) {
      await expect(encoder.forward(ids as never), what).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    encoder.dispose();
  });
});

describe('loading and lifetime', () => {
  it('refuses missing directories, corrupt weights and bad options with typed errors', async () => {
    for (const load of [UNet.load, VAE.load, TextEncoder.load] as ((d: string, o?: object) => Promise<unknown>)[]) {
      await expect(load(path.join(fixtures, 'nope'))).rejects.toMatchObject({ code: 'ERR_SPO_NOT_FOUND' });
      await expect(load(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(load(vaeDir, { device: 'tpu' })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(load(vaeDir, { dtype: 'fp64' })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(load(vaeDir, { dtypes: 'fp16' })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(load(vaeDir, 'cpu' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      if (!buildInfo().cudaAvailable) {
        await expect(load(vaeDir, { device: 'cuda' })).rejects.toBeInstanceOf(UnsupportedError);
      }
    }
    const corrupt: [() => Promise<unknown>, string][] = [
      [() => UNet.load(truncatedCopy(unetDir('sd15_tiny'), 'diffusion_pytorch_model.safetensors')), 'UNet'],
      [() => VAE.load(truncatedCopy(vaeDir, 'diffusion_pytorch_model.safetensors')), 'VAE'],
      [() => TextEncoder.load(truncatedCopy(clipDir('eos_gelu'), 'model.safetensors')), 'TextEncoder'],
    ];
    for (const [load, what] of corrupt) {
      const err = await load().then(() => undefined, (e: unknown) => e);
      expect(err, what).toBeInstanceOf(SpoError);
      expect((err as SpoError).message, what).toMatch(/safetensors/);
    }
    // A UNet directory is not a VAE: a typed error naming the mismatch.
    await expect(VAE.load(unetDir('sd15_tiny'))).rejects.toBeInstanceOf(SpoError);
    // The process lives on and the engine still works.
    const vae = await VAE.load(vaeDir);
    expect((await vae.decode({ data: new Float32Array(4 * 4), shape: [1, 4, 2, 2] })).shape).toEqual([1, 3, 4, 4]);
    vae.dispose();
  });

  it('dispose(): jobs in flight finish, later calls throw DisposedError, twice is fine', async () => {
    const ref = readSafetensors(path.join(fixtures, 'clip', 'projection', 'reference.safetensors'));
    const encoder = await TextEncoder.load(clipDir('projection'));
    const inFlight = encoder.forward(i64AsI32(ref, 'input_ids'));
    encoder.dispose();
    expectClose((await inFlight).textEmbeds!, f32(ref, 'text_embeds'));
    await expect(encoder.forward(i64AsI32(ref, 'input_ids'))).rejects.toBeInstanceOf(DisposedError);
    expect(() => encoder.dispose()).not.toThrow();
    expect(encoder.config.hiddenSize).toBe(32);  // the config is a plain snapshot

    const unet = await UNet.load(unetDir('sd15_tiny'));
    unet[Symbol.dispose]();
    await expect(unet.forward({} as never)).rejects.toBeInstanceOf(DisposedError);
    const vae = await VAE.load(vaeDir);
    vae.dispose();
    await expect(vae.decodeLatents({ data: new Float32Array(4), shape: [1, 4, 1, 1] })).rejects.toBeInstanceOf(DisposedError);
  });

  it('honours an aborted signal and refuses construction from JavaScript', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(UNet.load(unetDir('sd15_tiny'), { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    const vae = await VAE.load(vaeDir);
    await expect(vae.decode({ data: new Float32Array(4), shape: [1, 4, 1, 1] }, { signal: controller.signal }))
      .rejects.toBeInstanceOf(AbortError);
    vae.dispose();
    const { native } = await import('../lib/native/native');
    expect(() => new (native() as unknown as { UNet: new () => unknown }).UNet()).toThrow(/UNet.load/);
  });

  it('garbage passed straight to the native handles never aborts the process', () => {
    // In a child process, so that a crash shows as a failure rather than killing the runner.
    const script = `const path = require('node:path');
      const a = process.env.SPO_NATIVE_PATH ? require(path.resolve(process.env.SPO_NATIVE_PATH))
        : require(path.join(process.cwd(), 'dist', 'native', 'native.js')).native();
      const dir = process.argv[1];
      const junk = [undefined, null, 0, -1, NaN, 'x', {}, [], [1, 2], () => 1, Symbol('s'), 10n ** 30n,
        { data: new Float64Array(4), shape: [4] }, { data: new Int32Array(4), shape: [2, 2.5] },
        new Proxy({}, { get() { throw new Error('trap'); } })];
      let threw = 0;
      const tryIt = (f) => { try { const p = f(); if (p && p.catch) p.catch(() => {}); } catch { threw++; } };
      (async () => {
        const u = await a.loadUNet(dir + '/unet/sd15_tiny', {});
        const v = await a.loadVAE(dir + '/vae/tiny', {});
        const t = await a.loadTextEncoder(dir + '/clip/legacy_eos', {});
        for (const j of junk) {
          for (const load of [a.loadUNet, a.loadVAE, a.loadTextEncoder]) { tryIt(() => load(j)); tryIt(() => load(dir, j)); }
          for (const C of [a.UNet, a.VAE, a.TextEncoder]) {
            tryIt(() => new C(j));
            tryIt(() => C.prototype.dispose.call(j));
            tryIt(() => Object.getOwnPropertyDescriptor(C.prototype, 'config').get.call(j));
          }
          tryIt(() => u.forward(j)); tryIt(() => u.forward({ sample: j, timesteps: j, encoderHiddenStates: j }));
          tryIt(() => u.forward({}, j, j));
          tryIt(() => v.encode(j)); tryIt(() => v.decodeLatents(j, j, j));
          tryIt(() => t.forward(j)); tryIt(() => t.forward({ data: j, shape: j }));
        }
        u.dispose(); u.dispose(); v.dispose(); t.dispose();
        tryIt(() => v.decode({}));
        setTimeout(() => console.log('alive', threw > 100), 300);
      })();`;
    const r = spawnSync(process.execPath, ['-e', script, fixtures], { cwd: root, encoding: 'utf8', env: process.env });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('alive true');
  });
});


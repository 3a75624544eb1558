import { describe, expect, it } from 'vitest';
import { DDIMScheduler, DisposedError, InvalidArgumentError, type Tensor } from '../lib/index';
import { handStep, maxScaledError, randomTensor, scaledLinearAlphasCumprod } from './helpers';

describe('DDIMScheduler schedule', () => {
  it('has the Stable Diffusion training schedule (scaled_linear 0.00085..0.012, 1000 steps)', () => {
    const s = new DDIMScheduler();
    const hand = scaledLinearAlphasCumprod();
    const got = s.alphasCumprod();
    expect(got.length).toBe(1000);
    expect(maxScaledError(got, hand)).toBeLessThan(1e-6);
    expect(got[0]).toBeCloseTo(0.99915, 7);
    expect(s.config).toMatchObject({ betaSchedule: 'scaled_linear', stepsOffset: 1, timestepSpacing: 'leading', setAlphaToOne: false });
  });

  it('offers linear and squaredcos_cap_v2 betas', () => {
    const lin = new DDIMScheduler({ betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 }).betas();
    expect(lin[0]).toBeCloseTo(0.0001, 8);
    expect(lin[999]).toBeCloseTo(0.02, 8);
    expect(lin[500]).toBeCloseTo(0.0001 + (0.02 - 0.0001) * 500 / 999, 7);
    const cos = new DDIMScheduler({ betaSchedule: 'squaredcos_cap_v2' }).betas();
    const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (const i of [0, 10, 500, 998, 999]) {
      expect(cos[i]).toBeCloseTo(Math.min(1 - f((i + 1) / 1000) / f(i / 1000), 0.999), 6);
    }
  });

  it('spaces timesteps as diffusers does (leading + offset, trailing, linspace)', () => {
    const s = new DDIMScheduler();
    expect(s.setTimesteps(20)).toEqual(Array.from({ length: 20 }, (_, i) => 951 - 50 * i));
    expect(s.timesteps.at(-1)).toBe(1);
    expect(s.numInferenceSteps).toBe(20);
    expect(s.prevTimestep(51)).toBe(1);
    expect(s.prevTimestep(1)).toBe(-49);
    const trailing = new DDIMScheduler({ timestepSpacing: 'trailing', stepsOffset: 0 });
    expect(trailing.setTimesteps(20)).toEqual(Array.from({ length: 20 }, (_, i) => 999 - 50 * i));
    const linspace = new DDIMScheduler({ timestepSpacing: 'linspace', stepsOffset: 0 });
    expect(linspace.setTimesteps(7)).toEqual([999, 832, 666, 500, 333, 166, 0]); // numpy rounds half to even
  });

  it('reads a diffusers scheduler_config.json (SD-1.5 ships a PNDM config)', () => {
    const s = DDIMScheduler.fromDiffusersConfig({
      _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear',
      beta_start: 0.00085, num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1,
      trained_betas: null, clip_sample: false,
    });
    expect(s.setTimesteps(20)[0]).toBe(951);
    expect(() => DDIMScheduler.fromDiffusersConfig({ rescale_betas_zero_snr: true })).toThrow(InvalidArgumentError);
    expect(() => DDIMScheduler.fromDiffusersConfig({ beta_shedule: 'linear' })).toThrow(/unknown scheduler option/);
  });

  it('ignores `_` keys and treats a key listed in _use_default_values as absent, as diffusers does', () => {
    const base = { beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085, steps_offset: 1 };
    const s = DDIMScheduler.fromDiffusersConfig({
      ...base, _use_default_values: ['thresholding'], _name_or_path: 'x', _foo: { a: 1 },
      thresholding: true, // listed: diffusers drops it and uses its default, false
    });
    expect(s.config).toEqual(DDIMScheduler.fromDiffusersConfig(base).config);
    expect(() => DDIMScheduler.fromDiffusersConfig({ ...base, thresholding: true })).toThrow(InvalidArgumentError);
    expect(() => DDIMScheduler.fromDiffusersConfig({ ...base, _foo: 1, foo: 1 })).toThrow(/unknown scheduler option 'foo'/);
  });
});

describe('DDIMScheduler step', () => {
  const aBar = scaledLinearAlphasCumprod();

  it('matches the hand-computed step for eta 0 and eta 1 with mixed timesteps in one batch', async () => {
    const s = new DDIMScheduler();
    s.setTimesteps(20);
    // The step math by hand in double, on the float32 alphas (checked against the hand schedule above).
    const aBar = Array.from(s.alphasCumprod());
    const shape = [4, 4, 8, 8];
    const per = 4 * 8 * 8;
    const sample = randomTensor(shape, 1), eps = randomTensor(shape, 2), noise = randomTensor(shape, 3);
    const timestep = [951, 501, 51, 1];
    for (const eta of [0, 1]) {
      const out = await s.step({ sample, modelOutput: eps, timestep, eta, noise });
      expect(out.prevSample.shape).toEqual(shape);
      for (let b = 0; b < 4; b++) {
        const t = timestep[b]!;
        const aPrev = t - 50 >= 0 ? aBar[t - 50]! : aBar[0]!;
        const slice = (x: Tensor | Float32Array) => ('data' in x ? x.data : x).subarray(b * per, (b + 1) * per);
        const hand = handStep(slice(sample), slice(eps), slice(noise), aBar[t]!, aPrev, eta);
        expect(maxScaledError(slice(out.predOriginalSample), hand.x0)).toBeLessThan(1e-6);
        expect(maxScaledError(slice(out.prevSample), hand.prev)).toBeLessThan(1e-6);
        expect(maxScaledError(slice(out.mean), hand.mean)).toBeLessThan(1e-6);
        expect(out.std[b]).toBeCloseTo(hand.std, 6);
        if (eta > 0) expect(Math.abs(out.logProb[b]! - hand.logProb)).toBeLessThan(1e-6 * (1 + Math.abs(hand.logProb)));
        else expect(out.logProb[b]).toBeNaN(); // a deterministic step has no density
      }
    }
  });

  it('scores a given x_prev: logProb is the per-element mean, so it does not grow with the latent size', async () => {
    const s = new DDIMScheduler();
    s.setTimesteps(20);
    for (const size of [4, 32]) {
      const shape = [1, 4, size, size];
      const sample = randomTensor(shape, 5), eps = randomTensor(shape, 6);
      const drawn = await s.step({ sample, modelOutput: eps, timestep: 501, eta: 1, seed: 9 });
      const scored = await s.logProb({ sample, modelOutput: eps, timestep: 501, prevSample: drawn.prevSample });
      expect(scored.logProb[0]).toBeCloseTo(drawn.logProb[0]!, 5);
      // E[-(z^2)/2] - log(std) - log(sqrt(2 pi)) with z ~ N(0, 1): about -0.5 - log(std) - 0.919
      expect(scored.logProb[0]).toBeGreaterThan(-0.5 - Math.log(drawn.std[0]!) - 0.919 - 0.25);
      expect(scored.logProb[0]).toBeLessThan(-0.5 - Math.log(drawn.std[0]!) - 0.919 + 0.25);
    }
  });

  it('draws the same noise for the same seed', async () => {
    const s = new DDIMScheduler();
    s.setTimesteps(20);
    const sample = randomTensor([2, 16], 1), eps = randomTensor([2, 16], 2);
    const a = await s.step({ sample, modelOutput: eps, timestep: 951, eta: 1, seed: 123 });
    const b = await s.step({ sample, modelOutput: eps, timestep: 951, eta: 1, seed: 123n });
    const c = await s.step({ sample, modelOutput: eps, timestep: 951, eta: 1, seed: 124 });
    expect(a.prevSample.data).toEqual(b.prevSample.data);
    expect(a.prevSample.data).not.toEqual(c.prevSample.data);
  });

  it('handles v-prediction and sample prediction', async () => {
    const shape = [2, 8];
    const x = randomTensor(shape, 11), out = randomTensor(shape, 12);
    const v = new DDIMScheduler({ predictionType: 'v_prediction' });
    v.setTimesteps(20);
    const r = await v.predictOriginalSample({ sample: x, modelOutput: out, timestep: [751, 251] });
    for (let i = 0; i < 16; i++) {
      const a = aBar[i < 8 ? 751 : 251]!;
      expect(r.data[i]).toBeCloseTo(Math.sqrt(a) * x.data[i]! - Math.sqrt(1 - a) * out.data[i]!, 5);
    }
    const smp = new DDIMScheduler({ predictionType: 'sample' });
    smp.setTimesteps(20);
    const r2 = await smp.predictOriginalSample({ sample: x, modelOutput: out, timestep: 751 });
    expect(maxScaledError(r2.data, out.data)).toBeLessThan(1e-6);
  });

  it('adds noise and computes the velocity per sample', async () => {
    const s = new DDIMScheduler();
    const x0 = randomTensor([3, 4], 21), n = randomTensor([3, 4], 22);
    const t = [0, 500, 999];
    const xt = await s.addNoise(x0, n, t);
    const v = await s.getVelocity(x0, n, t);
    for (let i = 0; i < 12; i++) {
      const a = aBar[t[Math.floor(i / 4)]!]!;
      expect(xt.data[i]).toBeCloseTo(Math.sqrt(a) * x0.data[i]! + Math.sqrt(1 - a) * n.data[i]!, 5);
      expect(v.data[i]).toBeCloseTo(Math.sqrt(a) * n.data[i]! - Math.sqrt(1 - a) * x0.data[i]!, 5);
    }
  });

  it('samples a Gaussian target end to end and agrees with the closed-form chain', async () => {
    const s = new DDIMScheduler();
    const r = await s.sampleGaussian({ shape: [8, 4, 32, 32], steps: 50, eta: 1, seed: 1, mean: 0.5, std: 0.3 });
    expect(r.timesteps.length).toBe(50);
    expect(r.logProbs.shape).toEqual([50, 8]);
    expect(r.stepMeans.at(-1)).toBeCloseTo(r.expectedMean, 2);
    expect(Math.abs(r.stepStds.at(-1)! - r.expectedStd)).toBeLessThan(0.005);
    expect(Math.abs(r.expectedMean - 0.5)).toBeLessThan(0.02);
  });

  it('refuses bad input with clear typed errors', async () => {
    const s = new DDIMScheduler();
    const x = randomTensor([2, 3], 1);
    await expect(s.step({ sample: x, modelOutput: x, timestep: 1 })).rejects.toThrow(/setTimesteps/);
    s.setTimesteps(10);
    const bad: [unknown, RegExp][] = [
      [{ sample: x, modelOutput: { data: new Float32Array(5), shape: [5] }, timestep: 1 }, /shape/],
      [{ sample: x, modelOutput: x, timestep: 1000 }, /outside/],
      [{ sample: x, modelOutput: x, timestep: [1, 2, 3] }, /3 timesteps for a batch of 2/],
      [{ sample: x, modelOutput: x, timestep: 1.5 }, /integer/],
      [{ sample: x, modelOutput: x, timestep: -1 }, /\[0, /],
      [{ sample: x, modelOutput: x, timestep: 1, eta: NaN }, /finite/],
      [{ sample: x, modelOutput: x, timestep: 1, eta: -1 }, /eta/],
      [{ sample: { data: [1, 2], shape: [2] }, modelOutput: x, timestep: 1 }, /Float32Array/],
      [{ sample: { data: new Float32Array(6), shape: [2, -3] }, modelOutput: x, timestep: 1 }, /shape\[1\]/],
      [{ sample: { data: new Float32Array(6), shape: [2, 4] }, modelOutput: x, timestep: 1 }, /holds 8 elements but data has 6/],
      [{ sample: x, modelOutput: x, timestep: 1, etta: 1 }, /unknown option 'etta'/],
      [{ sample: x, modelOutput: x, timestep: 1, seed: -1 }, /seed/],
      [null, /must be an object/],
    ];
    for (const [args, message] of bad) {
      await expect(s.step(args as never)).rejects.toSatisfy((e: unknown) =>
        e instanceof InvalidArgumentError && e.code === 'ERR_SPO_INVALID_ARGUMENT' && message.test(e.message));
    }
    expect(() => new DDIMScheduler({ betaSchedule: 'cosine' as never })).toThrow(InvalidArgumentError);
    expect(() => new DDIMScheduler({ betaStart: -1 })).toThrow(/betaStart/);
    expect(() => new DDIMScheduler({ numTrainTimesteps: 1e12 })).toThrow(InvalidArgumentError);
    expect(() => s.setTimesteps(0)).toThrow(InvalidArgumentError);
    expect(() => s.setTimesteps(Number.NaN)).toThrow(/finite/);
    expect(() => s.setTimesteps('20' as never)).toThrow(/number/);
  });

  it('refuses use after dispose, while a running job finishes on its own copy', async () => {
    const s = new DDIMScheduler();
    const running = s.sampleGaussian({ shape: [2, 8], steps: 20 });
    s.dispose();
    await expect(running).resolves.toHaveProperty('timesteps');
    expect(() => s.setTimesteps(10)).toThrow(DisposedError);
    await expect(s.step({} as never)).rejects.toBeInstanceOf(DisposedError);
  });
});

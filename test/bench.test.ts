// The benchmark harness on the tiny test models: the report's structure, the
// FLOP counting, model evaluations per pair (default 2, parity 4), the round
// scored by a latent evaluator beside the pixel one, and the CLI's table, JSON
// and --compare.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BENCH_PHASES, benchRatios, Evaluator, InvalidArgumentError, Pipeline, runBenchmark } from '../lib/index';

const root = path.resolve(__dirname, '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-bench-'));
const cli = path.join(root, 'dist', 'cli', 'main.js');

beforeAll(() => {
  for (const [script, out] of [['make_evaluator_fixtures.py', 'evaluator'], ['make_pipeline_fixtures.py', 'pipeline']]) {
    const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'test', 'python', script!), path.join(work, out!)],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
  }
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('runBenchmark', () => {
  it('reports every section with counted FLOPs and the evaluations per pair', async () => {
    const pipeline = await Pipeline.load(path.join(work, 'pipeline', 'sd15'));
    const evaluator = await Evaluator.load(path.join(work, 'evaluator', 'step_aware'));
    const latentEvaluator = await Evaluator.createLatent(path.join(work, 'evaluator', 'step_aware'),
      { latentChannels: pipeline.info.latentChannels, width: 16, groups: 4, blocks: 2 });
    const report = await runBenchmark({ pipeline, evaluator, latentEvaluator, prompts: ['a red circle', 'a blue square'], reps: 2, warmup: 0,
      settings: { steps: 4, divertStartStep: 1, k: 3, threshold: 0, trainBatchSize: 2 } }) as Record<string, any>;
    // The harness writes exactly the fields BenchReport declares (lib/bench/bench.ts; a CPU run: no device-memory fields).
    const keys = (o: object) => Object.keys(o).sort();
    expect(keys(report)).toEqual(['ceiling', 'components', 'kernels', 'machine', 'round', 'settings', 'update']);
    expect(keys(report.machine)).toEqual(['device', 'dtype', 'intra_op_threads']);
    expect(keys(report.ceiling)).toEqual(['best_gflops', 'conv3x3', 'dtype', 'note', 'sizes']);
    expect(keys(report.ceiling.sizes[0])).toEqual(['gflops', 'n', 'time']);
    expect(keys(report.ceiling.conv3x3)).toEqual(['gflops', 'shape', 'time']);
    expect(keys(report.ceiling.conv3x3.time)).toEqual(['median_s', 'min_s', 'reps', 'seconds', 'spread']);
    for (const c of report.components) {
      expect(keys(c)).toEqual(['batch', 'flops_counted', 'gflop', 'gflops', 'name', 'share_of_ceiling', 'time']);
    }
    expect(keys(report.update)).toEqual(['default', 'optimizer_step', 'pairs', 'parity', 'speedup_vs_parity']);
    expect(keys(report.update.parity)).toEqual(['evaluations_per_pair', 'policy_evaluations', 'reference_evaluations', 'time']);
    expect(keys(report.update.optimizer_step)).toEqual(['flops_counted', 'lora_dtype', 'pairs', 'variants']);
    for (const v of report.update.optimizer_step.variants) {
      expect(keys(v)).toEqual(['gflops', 'gradient_checkpointing', 'model_gflop', 'share_of_ceiling', 'time']);
    }
    for (const k of report.kernels) expect(keys(k)).toEqual(['aten', 'fused', 'name', 'shape', 'speedup']);
    expect(keys(report.round)).toEqual(['k', 'latent', 'pairs_kept', 'pairs_per_second', 'pairs_tied', 'peak_rss_bytes', 'profile',
      'prompts', 'sampling_evaluations', 'sampling_evaluations_per_kept_pair', 'sampling_s', 'steps', 'update_evaluations',
      'update_evaluations_per_kept_pair', 'update_s']);
    expect(keys(report.round.latent)).toEqual(['latent_round_vs_engine_pixel', 'pairs_kept', 'pairs_per_second', 'pairs_tied',
      'profile', 'round_s', 'sampling_evaluations', 'sampling_evaluations_per_kept_pair', 'sampling_s', 'update_evaluations',
      'update_evaluations_per_kept_pair', 'update_s']);
    expect(keys(report.round.profile)).toEqual(['sampling', 'update']);
    expect(keys(report.round.profile.update)).toEqual(['calls', 'seconds', 'total_s']);
    expect(report.ceiling.best_gflops).toBeGreaterThan(0);
    expect(report.components.map((c: any) => c.name)).toEqual(['text encoding', 'UNet forward (guided: 2B rows)',
      'UNet forward+backward (guided, LoRA)', 'VAE decode', 'preference model score',
      'candidate denoising step (B x k latents: guided UNet + DDIM step)']);
    for (const c of report.components) {
      expect(c.gflop).toBeGreaterThan(0);
      expect(c.time.seconds).toHaveLength(2);
      expect(c.time.min_s).toBeLessThanOrEqual(c.time.median_s);
    }
    // Forward+backward is counted as twice the forward's FLOPs.
    expect(report.components[2].gflop).toBeCloseTo(2 * report.components[1].gflop, 6);
    // A sampling step runs the guided UNet on the k = 3 candidates of each prompt.
    expect(report.components[5].gflop).toBeCloseTo(3 * report.components[1].gflop, 6);
    expect(report.update.default.evaluations_per_pair).toBe(2);
    expect(report.update.parity.evaluations_per_pair).toBe(4);
    // One whole optimizer step (AdamW on the fp32 LoRA), gradient checkpointing off and on.
    const steps = report.update.optimizer_step;
    expect(steps.lora_dtype).toBe('Float');
    expect(steps.variants.map((v: any) => v.gradient_checkpointing)).toEqual([false, true]);
    for (const v of steps.variants) expect(v.model_gflop).toBeGreaterThan(report.components[1].gflop);
    expect(report.kernels.map((k: any) => k.name)).toEqual(['SPO loss forward+backward', 'adaLN modulate + gated residual forward+backward']);
    expect(report.round.update_evaluations_per_kept_pair).toBe(2);
    expect(report.round.peak_rss_bytes).toBeGreaterThan(1e7);
    // The round's profile: every phase named, the seconds add up to the span's time, and each phase is
    // entered as the round's shape says. 4 steps, divert 1, k 3, 2 prompts: one prompt encoding, a plain
    // step and the branch's eps (2 trajectory calls), 3 branch steps each decoded and scored, x0 calls on
    // all but the last; the update runs 6 pairs in minibatches of 2 (3 forwards, backwards and steps).
    const { sampling, update } = report.round.profile;
    for (const span of [sampling, update]) {
      expect(Object.keys(span.seconds)).toEqual([...BENCH_PHASES].sort());
      const sum = Object.values(span.seconds as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(span.total_s, 9);
    }
    expect(sampling.total_s).toBe(report.round.sampling_s);
    expect(update.total_s).toBe(report.round.update_s);
    expect(sampling.calls).toMatchObject({ 'text encoding': 1, 'candidate UNet calls': 2, 'x0 calls': 2, 'VAE decode': 3,
      evaluator: 3, 'update forwards': 0, backward: 0, 'optimizer step': 0 });
    expect(report.round.pairs_kept).toBe(6);
    expect(update.calls).toMatchObject({ 'update forwards': 3, backward: 3, 'optimizer step': 3, 'x0 calls': 0 });
    for (const phase of ['text encoding', 'candidate UNet calls', 'x0 calls', 'VAE decode', 'evaluator']) expect(sampling.seconds[phase]).toBeGreaterThan(0);
    for (const phase of ['update forwards', 'backward', 'optimizer step']) expect(update.seconds[phase]).toBeGreaterThan(0);
    // The same round scored by the latent evaluator: the same pairs kept (best and worst of each prompt's k at
    // each of the 3 branch steps) with fewer UNet evaluations while sampling (no x0 call per candidate), no
    // decode, and the same update over its pairs.
    const latent = report.round.latent;
    for (const name of ['sampling_s', 'update_s', 'round_s', 'latent_round_vs_engine_pixel', 'pairs_per_second']) {
      expect(Number.isFinite(latent[name]) && latent[name] > 0, name).toBe(true);
    }
    expect(latent.round_s).toBeCloseTo(latent.sampling_s + latent.update_s, 12);
    expect(latent.latent_round_vs_engine_pixel).toBeCloseTo(
      (report.round.sampling_s + report.round.update_s) / latent.round_s, 9);
    expect(latent.pairs_kept).toBe(report.round.pairs_kept);
    expect(latent.sampling_evaluations).toBeGreaterThan(0);
    expect(latent.sampling_evaluations).toBeLessThan(report.round.sampling_evaluations);
    expect(latent.update_evaluations).toBe(report.round.update_evaluations);
    expect(latent.profile.sampling.calls).toMatchObject({ 'text encoding': 1, 'x0 calls': 0, 'VAE decode': 0, evaluator: 3 });
    expect(latent.profile.update.calls).toMatchObject({ 'update forwards': 3, backward: 3, 'optimizer step': 3 });
    expect(pipeline.hasLora).toBe(false);  // the harness leaves the pipeline as it found it
    await expect(runBenchmark({ pipeline, evaluator, prompts: ['x'], sections: ['everything' as never] }))
      .rejects.toBeInstanceOf(InvalidArgumentError);
    // The latent round takes a latent evaluator only.
    await expect(runBenchmark({ pipeline, evaluator, latentEvaluator: evaluator, prompts: ['x'], sections: ['round'] }))
      .rejects.toBeInstanceOf(InvalidArgumentError);
    pipeline.dispose();
    evaluator.dispose();
    latentEvaluator.dispose();
  }, 180_000);
});

describe('benchRatios', () => {
  it('divides the Python seconds by the engine seconds, the whole round as sums', () => {
    // Hand-computed: sampling 24 / 16 = 1.5, update 30 / 10 = 3, round (24 + 30) / (16 + 10) = 54 / 26.
    const r = benchRatios({ sampling_s: 16, update_s: 10 }, { sampling_s: 24, update_s: 30 });
    expect(r.sampling).toBe(1.5);
    expect(r.update).toBe(3);
    expect(r.round).toBeCloseTo(54 / 26, 12);
    expect(() => benchRatios({ sampling_s: 0, update_s: 1 }, { sampling_s: 1, update_s: 1 })).toThrow(/engine sampling_s/);
    expect(() => benchRatios({ sampling_s: 1, update_s: 1 }, { sampling_s: 1, update_s: NaN })).toThrow(/python update_s/);
  });
});

describe('spo bench', () => {
  it('profiles the round beside the Python baseline and reports the ratios as numbers', () => {
    const json = path.join(work, 'round.json');
    const r = spawnSync(process.execPath, [cli, 'bench', '--model', path.join(work, 'pipeline', 'sd15'),
      '--evaluator', path.join(work, 'evaluator', 'step_aware'), '--steps', '4', '--divert', '1', '--k', '3',
      '--train-batch', '2', '--reps', '1', '--warmup', '0', '--sections', 'round', '--json', json],
    { encoding: 'utf8', timeout: 170_000 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    const py = report.python_baseline;
    expect(py.skipped).toBeUndefined();
    // The Python round keeps best and worst of each prompt's k at each of the 3 branch steps.
    expect(py.round.pairs).toBe(6);
    expect(Object.keys(py.round.profile.sampling.seconds).sort()).toEqual([...BENCH_PHASES].sort());
    expect(py.round.profile.sampling.calls).toMatchObject({ 'text encoding': 1, 'candidate UNet calls': 4, 'x0 calls': 2,
      'VAE decode': 3, evaluator: 3 });
    expect(py.round.profile.update.calls).toMatchObject({ 'update forwards': 3, backward: 3, 'optimizer step': 3 });
    const e = report.round, ps = py.round.sampling.median_s, pu = py.round.update_s;
    expect(report.ratios.sampling).toBeCloseTo(ps / e.sampling_s, 9);
    expect(report.ratios.update).toBeCloseTo(pu / e.update_s, 9);
    expect(report.ratios.round).toBeCloseTo((ps + pu) / (e.sampling_s + e.update_s), 9);
    // The round with a latent evaluator (on by default), against the same Python pixel round, as numbers.
    const l = report.round.latent;
    expect(l.latent_sampling_vs_python).toBeCloseTo(ps / l.sampling_s, 9);
    expect(l.latent_update_vs_python).toBeCloseTo(pu / l.update_s, 9);
    expect(l.latent_round_vs_python).toBeCloseTo((ps + pu) / l.round_s, 9);
    expect(l.profile.sampling.calls).toMatchObject({ 'x0 calls': 0, 'VAE decode': 0 });
    expect(r.stdout).toMatch(/phase\s+engine sampling\s+engine update\s+engine round\s+Python sampling\s+Python update\s+Python round\s+Python\/engine/);
    expect(r.stdout).toMatch(/\nx0 calls\s+[\d.]+ s\s+0\.00 s\s+[\d.]+ s\s+[\d.]+ s\s+0\.00 s/);
    expect(r.stdout).toMatch(/against the Python baseline .*: sampling [\d.]+x, update [\d.]+x, whole round [\d.]+x/);
    expect(r.stdout).toMatch(/SPO round with the latent evaluator .*: sampling [\d.]+ s, update [\d.]+ s, round [\d.]+ s/);
    expect(r.stdout).toMatch(/against the Python baseline's pixel round .*: sampling [\d.]+x, update [\d.]+x, whole round [\d.]+x/);
  }, 180_000);


  it('prints the table, writes JSON and compares with an earlier run', () => {
    const json1 = path.join(work, 'one.json'), json2 = path.join(work, 'two.json');
    const args = ['bench', '--model', path.join(work, 'pipeline', 'sd15'), '--evaluator', path.join(work, 'evaluator', 'step_aware'),
      '--steps', '4', '--divert', '1', '--k', '3', '--reps', '1', '--warmup', '0', '--sections', 'ceiling,components,update',
      '--no-python-baseline'];
    const a = spawnSync(process.execPath, [cli, ...args, '--json', json1], { encoding: 'utf8', timeout: 170_000 });
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/ceiling: [\d.]+ GFLOP\/s/);
    expect(a.stdout).toMatch(/UNet forward \(guided: 2B rows\)\s+2\s+[\d.]+ ms/);
    expect(a.stdout).toMatch(/update step, \d+ pairs: default .* \(2 model evaluations per pair\), parity .* \(4 per pair\)/);
    expect(a.stdout).toMatch(/optimizer step \(AdamW on the Float LoRA\), gradient checkpointing on: [\d.]+ ms/);
    expect(JSON.parse(readFileSync(json1, 'utf8')).components).toHaveLength(6);
    const b = spawnSync(process.execPath, [cli, ...args, '--json', json2, '--compare', json1], { encoding: 'utf8', timeout: 170_000 });
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/compared with the old run:[\s\S]*update default\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+x/);
  }, 180_000);
});

// The benchmark harness on the tiny test models: the report's structure, the
// FLOP counting, model evaluations per pair (default 2, parity 4), and the
// CLI's table, JSON and --compare.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Evaluator, InvalidArgumentError, Pipeline, runBenchmark } from '../lib/index';

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
    const report = await runBenchmark({ pipeline, evaluator, prompts: ['a red circle', 'a blue square'], reps: 2, warmup: 0,
      settings: { steps: 4, divertStartStep: 1, k: 3, threshold: 0, trainBatchSize: 2 } }) as Record<string, any>;
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
    expect(pipeline.hasLora).toBe(false);  // the harness leaves the pipeline as it found it
    await expect(runBenchmark({ pipeline, evaluator, prompts: ['x'], sections: ['everything' as never] }))
      .rejects.toBeInstanceOf(InvalidArgumentError);
    pipeline.dispose();
    evaluator.dispose();
  }, 180_000);
});

describe('spo bench', () => {
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

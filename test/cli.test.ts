// The `spo` command line as a user runs it (the compiled dist/ entry point).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const spo = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('spo ddim-check', () => {
  it('prints the run step by step and a result that matches the closed-form chain', () => {
    const r = spo('ddim-check', '--steps', '20', '--batch', '8', '--size', '32');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('20 leading steps: 951, 901, 851, 801, ..., 1');
    expect(r.stdout.match(/^\s+\d+\s+\d+\s+-?\d/gm)?.length).toBe(20); // one row per step
    const achieved = r.stdout.match(/result\s+sample mean (\S+), std (\S+)/)!;
    const expected = r.stdout.match(/expected mean (\S+), std (\S+)/)!;
    expect(Math.abs(Number(achieved[1]) - Number(expected[1]))).toBeLessThan(0.01);
    expect(Math.abs(Number(achieved[2]) - Number(expected[2]))).toBeLessThan(0.01);
  });

  it('writes a JSON summary', () => {
    const r = spo('ddim-check', '--steps', '10', '--json');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ steps: 10, eta: 1, shape: [16, 4, 64, 64], target: { mean: 0.5, std: 0.3 } });
    expect(summary.engine.torchVersion).toMatch(/^2\./);
  });

  it('refuses bad options with a message and exit code 1', () => {
    for (const args of [['--steps', '0'], ['--steps', 'abc'], ['--eta', 'NaN'], ['--std', '-1']]) {
      const r = spo('ddim-check', ...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/must be/);
    }
  });
});

describe('spo info', () => {
  it('reports the engine build', () => {
    const r = spo('info');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ napiVersion: 8, cudaAvailable: expect.any(Boolean) });
  });
});

describe('spo sample', () => {
  it('writes one PNG per prompt with a progress bar on stderr', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spo-cli-sample-'));
    try {
      const made = spawnSync(path.resolve(__dirname, '..', '.venv', 'bin', 'python'),
        [path.resolve(__dirname, 'python', 'make_pipeline_fixtures.py'), dir], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
      expect(made.status, made.stderr).toBe(0);
      const out = path.join(dir, 'out');
      const r = spo('sample', '--model', path.join(dir, 'sd15'), '--prompt', 'a red cat!', '--prompt', 'a dog',
        '--out', out, '--steps', '3', '--width', '32', '--height', '48', '--seed', '3');
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/sampling \[.*\] 3\/3 steps/);
      const files = r.stdout.trim().split('\n');
      expect(files.map((f) => path.basename(f))).toEqual(['000-a-red-cat.png', '001-a-dog.png']);
      for (const file of files) {
        const png = PNG.sync.read(readFileSync(file));
        expect([png.width, png.height]).toEqual([32, 48]);
      }
      const bad = spo('sample', '--model', path.join(dir, 'sd15'), '--prompt', 'x', '--out', out, '--steps', '0');
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/must be/);
      const missing = spo('sample', '--model', path.join(dir, 'nope'), '--prompt', 'x', '--out', out);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/ERR_SPO_NOT_FOUND/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('spo eval and spo train-evaluator', () => {
  it('scores a folder of PNGs, trains an evaluator from a pairs file and scores with the result', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spo-cli-eval-'));
    try {
      const python = path.resolve(__dirname, '..', '.venv', 'bin', 'python');
      for (const [script, out] of [['make_evaluator_fixtures.py', 'evaluator'], ['make_pipeline_fixtures.py', 'pipeline']]) {
        const made = spawnSync(python, [path.resolve(__dirname, 'python', script!), path.join(dir, out!)],
          { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
        expect(made.status, made.stderr).toBe(0);
      }
      // Flat dark and bright images (the tiny pipeline's size, 32 px), a pairs file where bright wins.
      const { Image } = await import('../lib/index');
      const img = (level: number) => new Image(32, 32, new Uint8Array(32 * 32 * 3).fill(level));
      const images = path.join(dir, 'images');
      await img(30).savePNG(path.join(images, 'dark.png'));
      await img(220).savePNG(path.join(images, 'bright.png'));
      const lines = Array.from({ length: 4 }, (_, i) => JSON.stringify(i % 2
        ? { prompt: 'a bright image', image_0: 'images/dark.png', image_1: 'images/bright.png', label: 1 }
        : { prompt: 'a bright image', image_0: 'images/bright.png', image_1: 'images/dark.png', label: 0 }));
      writeFileSync(path.join(dir, 'pairs.jsonl'), `${lines.join('\n')}\n`);

      const scored = spo('eval', '--evaluator', path.join(dir, 'evaluator', 'plain'), '--folder', images,
        '--prompt', 'a bright image', '--json');
      expect(scored.status, scored.stderr).toBe(0);
      expect(scored.stderr).toMatch(/scoring \[.*\] 2\/2 images/);
      const rows = scored.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(rows.map((r) => path.basename(r.file))).toEqual(['bright.png', 'dark.png']);
      // The scores of the library's Evaluator (checked against transformers in evaluator.test.ts),
      // which tells the two images apart.
      const { Evaluator } = await import('../lib/index');
      const library = await Evaluator.load(path.join(dir, 'evaluator', 'plain'));
      const expected = await library.score({ images: [img(220), img(30)], prompts: ['a bright image', 'a bright image'] });
      library.dispose();
      expect(Math.abs(expected[0]! - expected[1]!)).toBeGreaterThan(1e-3);
      rows.forEach((r, i) => expect(Math.abs(r.score - expected[i]!), r.file).toBeLessThan(1e-4));

      const out = path.join(dir, 'trained');
      const trained = spo('train-evaluator', '--evaluator', path.join(dir, 'evaluator', 'plain'),
        '--model', path.join(dir, 'pipeline', 'sd15'), '--pairs', path.join(dir, 'pairs.jsonl'),
        '--validation', path.join(dir, 'pairs.jsonl'), '--out', out, '--steps', '3', '--batch-size', '2',
        '--lr', '1e-3', '--warmup', '1', '--checkpoint-dir', path.join(dir, 'ckpt'));
      expect(trained.status, trained.stderr).toBe(0);
      expect(trained.stderr).toMatch(/training \[.*\] 3\/3 steps \| loss \d/);
      expect(trained.stdout).toMatch(/t=951  accuracy \d\.\d{3}/);
      const rescored = spo('eval', '--evaluator', out, '--folder', images, '--prompt', 'a bright image', '--json');
      expect(rescored.status, rescored.stderr).toBe(0);
      const trainedRows = rescored.stdout.trim().split('\n').map((l) => JSON.parse(l));
      // The pairs say the bright image wins: training must move the score margin that way
      // (measured: -26.1 before, -9.7 after three steps; a no-op optimiser leaves it where it was).
      const margin = (r: { score: number }[]) => r[0]!.score - r[1]!.score;  // bright - dark
      expect(margin(trainedRows), `margin before ${margin(rows)}`).toBeGreaterThan(margin(rows) + 5);
      const again = spo('eval', '--evaluator', out, '--image', path.join(images, 'dark.png'), '--prompt', 'x', '--timestep', '500');
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/^-?\d+\.\d{4}\t.*dark\.png\tx$/m);

      const bad = spo('eval', '--evaluator', out, '--prompt', 'x');
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/no images/);
      const missing = spo('train-evaluator', '--evaluator', out, '--model', path.join(dir, 'pipeline', 'sd15'),
        '--pairs', path.join(dir, 'nope.jsonl'), '--out', out);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/does not exist \(ERR_SPO_NOT_FOUND\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('spo train', () => {
  it('trains a LoRA with a progress display, a JSONL event log and checkpoints', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spo-cli-train-'));
    try {
      const python = path.resolve(__dirname, '..', '.venv', 'bin', 'python');
      for (const [script, out] of [['make_evaluator_fixtures.py', 'evaluator'], ['make_pipeline_fixtures.py', 'pipeline']]) {
        const made = spawnSync(python, [path.resolve(__dirname, 'python', script!), path.join(dir, out!)],
          { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
        expect(made.status, made.stderr).toBe(0);
      }
      writeFileSync(path.join(dir, 'prompts.json'), JSON.stringify([{ caption: 'a red circle' }, { caption: 'a blue square' }]));
      const out = path.join(dir, 'out');
      const args = ['train', '--model', path.join(dir, 'pipeline', 'sd15'), '--evaluator', path.join(dir, 'evaluator', 'step_aware'),
        '--prompts', path.join(dir, 'prompts.json'), '--out', out, '--set', 'steps=4', '--set', 'divertStartStep=1',
        '--set', 'k=3', '--set', 'threshold=0', '--set', 'sampleBatchSize=1', '--set', 'epochs=1'];
      const r = spo(...args);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/rounds\s+\[.*\] 2\/2 pairs kept \d+ \| loss \d\.\d{4} \| [\d.]+ rounds\/min/);
      expect(r.stdout).toMatch(/rounds 2\/2 \(from 0\), pairs kept \d+/);
      expect(r.stdout).toMatch(/\(2\.00 per kept pair\)/);
      const events = readFileSync(path.join(out, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(events[0]).toMatchObject({ type: 'settings', settings: { k: 3, steps: 4, preset: 'sd15' } });
      expect(events.at(-1)).toMatchObject({ type: 'done', result: { roundsDone: 2 } });
      expect(new Set(events.map((e) => e.type))).toEqual(new Set(['settings', 'round', 'sampling', 'pairs', 'update', 'checkpoint', 'done']));
      expect(readFileSync(path.join(out, 'checkpoints', 'latest'), 'utf8').trim()).toBe('step-000000002');
      // Run again: everything is done, the run resumes at round 2 and only exports.
      const again = spo(...args);
      expect(again.status, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/rounds 2\/2 \(from 2\)/);
      const bad = spo(...args, '--set', 'k=1');
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/setting k = 1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

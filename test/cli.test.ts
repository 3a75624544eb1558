// The `spo` command line as a user runs it (the compiled dist/ entry point).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const cli = path.resolve(__dirname, '..', 'dist', 'cli', 'main.js');
const spo = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('spo demo', () => {
  it('prints the run step by step and a result that matches the closed-form chain', () => {
    const r = spo('demo', '--steps', '20', '--batch', '8', '--size', '32');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('20 leading steps: 951, 901, 851, 801, ..., 1');
    expect(r.stdout.match(/^\s+\d+\s+\d+\s+-?\d/gm)?.length).toBe(20); // one row per step
    const achieved = r.stdout.match(/result\s+sample mean (\S+), std (\S+)/)!;
    const expected = r.stdout.match(/expected mean (\S+), std (\S+)/)!;
    expect(Math.abs(Number(achieved[1]) - Number(expected[1]))).toBeLessThan(0.01);
    expect(Math.abs(Number(achieved[2]) - Number(expected[2]))).toBeLessThan(0.01);
  });

  it('writes a JSON summary', () => {
    const r = spo('demo', '--steps', '10', '--json');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ steps: 10, eta: 1, shape: [16, 4, 64, 64], target: { mean: 0.5, std: 0.3 } });
    expect(summary.engine.torchVersion).toMatch(/^2\./);
  });

  it('refuses bad options with a message and exit code 1', () => {
    for (const args of [['--steps', '0'], ['--steps', 'abc'], ['--eta', 'NaN'], ['--std', '-1']]) {
      const r = spo('demo', ...args);
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

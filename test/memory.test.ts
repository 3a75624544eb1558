// Memory stays flat over repeated jobs (issue 8): a short run of the soak
// script (test/soak/memory-soak.mjs) in its own process on the tiny SD-1.5
// fixture: 120 Pipeline.load -> Sampler.generate -> dispose cycles, RSS
// growth after warm-up under a stated bound. glibc's malloc arenas are capped
// at 2 so that per-thread arena high-water marks (which plateau after a few
// hundred cycles, ~1 GiB here, without it) do not hide or mimic a leak; a
// leaked pipeline (several MiB each) would exceed the bound many times over.
// The long run (1,000 cycles and 200 trainings) is in docs/RELIABILITY.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const fixtures = mkdtempSync(path.join(os.tmpdir(), 'spo-memory-'));

beforeAll(() => {
  const r = spawnSync(path.join(root, '.venv', 'bin', 'python'),
    [path.join(root, 'test', 'python', 'make_pipeline_fixtures.py'), path.join(fixtures, 'pipeline')],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
}, 120_000);

afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

it('keeps RSS flat over 120 load/sample/dispose cycles (growth after warm-up < 48 MiB)', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(root, 'test', 'soak', 'memory-soak.mjs'),
    '--cycles', '120', '--train-cycles', '0', '--every', '20', '--warmup', '0.25', '--bound-mb', '48', '--fixtures', fixtures],
  { encoding: 'utf8', env: { ...process.env, MALLOC_ARENA_MAX: '2' } });
  const summary = /sample: rss ([\d.]+) -> ([\d.]+) MiB/.exec(r.stdout);
  expect(summary, r.stdout + r.stderr).not.toBeNull();
  expect(Number(summary![2]) - Number(summary![1])).toBeLessThan(48);
  expect(r.status, r.stdout + r.stderr).toBe(0);
}, 120_000);

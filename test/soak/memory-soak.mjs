#!/usr/bin/env node
// Memory over long runs (issue 8): repeated job cycles on the tiny test
// fixtures, printing the process RSS every `--every` cycles, then checking
// the growth after warm-up against a stated bound.
//   phase "sample": Pipeline.load -> Sampler.generate -> dispose, per cycle
//   phase "train":  Pipeline.load -> one-round SPO Trainer (with a checkpoint
//                   directory) -> dispose, per cycle
// Usage (after `npm run build`):
//   node --expose-gc test/soak/memory-soak.mjs [--cycles 1000] [--train-cycles 100]
//        [--every 100] [--warmup 0.2] [--bound-mb 64] [--fixtures DIR]
// Exit status 1 when RSS grows by more than the bound between the end of
// warm-up (the first report at or after that fraction of the cycles: the
// allocator's arenas and libtorch's caches fill up first) and the last report.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { Evaluator, Pipeline, Sampler, Trainer } = await import(path.join(root, 'dist', 'index.js'));

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const cycles = Number(args.cycles ?? 1000);
const trainCycles = Number(args['train-cycles'] ?? 100);
const every = Number(args.every ?? 100);
const boundMb = Number(args['bound-mb'] ?? 64);
const warmup = Number(args.warmup ?? 0.2);

const work = mkdtempSync(path.join(os.tmpdir(), 'spo-soak-'));
let fixtures = args.fixtures;
if (!fixtures) {
  fixtures = path.join(work, 'fixtures');
  for (const [script, out] of [['make_pipeline_fixtures.py', 'pipeline'], ['make_evaluator_fixtures.py', 'evaluator']]) {
    const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'test', 'python', script), path.join(fixtures, out)],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
  }
}
const pipelineDir = path.join(fixtures, 'pipeline', 'sd15');

const rssMb = () => {
  globalThis.gc?.();
  return process.memoryUsage.rss() / 2 ** 20;
};

/** Runs `cycle` n times, reporting RSS every `every` cycles; returns the reports. */
async function phase(name, n, cycle) {
  const reports = [];
  const start = Date.now();
  for (let i = 1; i <= n; ++i) {
    await cycle(i);
    if (i % every === 0 || i === n) {
      const rss = rssMb();
      reports.push({ cycle: i, rss });
      console.log(`${name} cycle ${String(i).padStart(5)}: rss ${rss.toFixed(1)} MiB  (${((Date.now() - start) / i).toFixed(0)} ms/cycle)`);
    }
  }
  return reports;
}

function growth(name, reports) {
  const last = reports.at(-1);
  if (!last) return 0;
  const first = reports.find((r) => r.cycle >= warmup * last.cycle && r !== last);
  if (!first) return 0;
  const g = last.rss - first.rss;
  console.log(`${name}: rss ${first.rss.toFixed(1)} -> ${last.rss.toFixed(1)} MiB from cycle ${first.cycle} to ${last.cycle}: ` +
    `growth ${g.toFixed(1)} MiB (${((1024 * g) / (last.cycle - first.cycle)).toFixed(1)} KiB/cycle), bound ${boundMb} MiB`);
  return g;
}

console.log(`rss at start: ${rssMb().toFixed(1)} MiB`);
const sample = await phase('sample', cycles, async (i) => {
  const pipeline = await Pipeline.load(pipelineDir);
  await new Sampler(pipeline).generate({ prompts: ['a red circle', 'two squares'], steps: 2, seed: i, width: 32, height: 32 });
  pipeline.dispose();
});

let train = [];
if (trainCycles > 0) {
  const evaluator = await Evaluator.load(path.join(fixtures, 'evaluator', 'step_aware'));
  const prompts = ['a red circle', 'a blue square'];
  train = await phase('train', trainCycles, async (i) => {
    const pipeline = await Pipeline.load(pipelineDir);
    const checkpointDir = path.join(work, `ckpt-${i}`);
    await new Trainer({ pipeline, evaluator, prompts, steps: 3, divertStartStep: 1, k: 2, threshold: 0, sampleBatchSize: 2,
      trainBatchSize: 2, epochs: 1, maxRounds: 1, seed: i, checkpointDir }).train();
    pipeline.dispose();
    rmSync(checkpointDir, { recursive: true, force: true });
  });
  evaluator.dispose();
}

const over = [growth('sample', sample), growth('train', train)].some((g) => g > boundMb);
rmSync(work, { recursive: true, force: true });
process.exit(over ? 1 : 0);

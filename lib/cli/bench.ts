// `spo bench`: the benchmark harness. Runs the engine's measurements (ceiling,
// components, update default vs parity, fused kernels, one SPO round) on a
// mid-sized random-weight configuration or on the user's own models, the
// authors' way in Python on the same weights when Python's torch is present,
// prints a table and writes JSON; --compare prints ratios against an old run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_PHASES, benchRatios, runBenchmark, type BenchReport, type BenchSection, type RoundProfile, type Timing } from '../bench/bench';
import { Evaluator } from '../models/evaluator';
import { Pipeline } from '../models/pipeline';
import { shapesWorldAssets } from '../world';
import type { Device, DType } from '../runtime/device';

export interface BenchCliOptions {
  /** 'midsize' (random weights near SD-1.5's shape) or 'shapes' (the shipped shapes-world models); --model overrides. */
  workload: 'midsize' | 'shapes';
  model?: string;
  evaluator?: string;
  prompts: number;
  k: number;
  steps: number;
  divert: number;
  trainBatch: number;
  reps: number;
  warmup: number;
  sections?: string;
  pythonBaseline: boolean;
  /** Also time the round with a latent evaluator (random weights, the workload evaluator's text tower); default on. */
  latentRound: boolean;
  json?: string;
  compare?: string;
  device: Device;
  dtype: DType;
}

const packageRoot = path.resolve(__dirname, '..', '..');
const python = path.join(packageRoot, '.venv', 'bin', 'python');

type Json = Record<string, any>;  // the report's shape is documented in README "Benchmarks"

function midsizeModels(): { model: string; evaluator: string } {
  const dir = process.env.SPO_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'spo-diffusion', 'bench-midsize');
  if (!existsSync(path.join(dir, '.complete'))) {
    if (!existsSync(python)) throw new Error(`the mid-sized configuration is made by ${python} (run npm run build first) or give --model and --evaluator`);
    process.stderr.write(`making the mid-sized random-weight models in ${dir} ...\n`);
    const r = spawnSync(python, [path.join(packageRoot, 'bench', 'make_midsize_models.py'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error('making the mid-sized models failed');
  }
  return { model: path.join(dir, 'pipeline'), evaluator: path.join(dir, 'evaluator') };
}

const ms = (t: Timing) => `${(t.median_s * 1000).toFixed(1)} ms`;
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

const sec = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(2)} s`);

/** Where the round's time goes, phase by phase, the engine beside the Python baseline. */
function profileTable(engine: RoundProfile, python?: RoundProfile): string {
  const total = (p: RoundProfile | undefined, phase: (typeof BENCH_PHASES)[number]) =>
    p === undefined ? undefined : (p.sampling.seconds[phase] ?? 0) + (p.update.seconds[phase] ?? 0);
  const head = ['phase', 'engine sampling', 'engine update', 'engine round'];
  if (python) head.push('Python sampling', 'Python update', 'Python round', 'Python/engine');
  const rows = [head];
  for (const phase of BENCH_PHASES) {
    const e = total(engine, phase)!, p = total(python, phase);
    const row = [phase, sec(engine.sampling.seconds[phase]), sec(engine.update.seconds[phase]), sec(e)];
    if (python) row.push(sec(python.sampling.seconds[phase]), sec(python.update.seconds[phase]), sec(p),
      e > 0.005 && p !== undefined && p > 0.005 ? `${(p / e).toFixed(2)}x` : '-');
    rows.push(row);
  }
  const all = ['total', sec(engine.sampling.total_s), sec(engine.update.total_s), sec(engine.sampling.total_s + engine.update.total_s)];
  if (python) {
    const p = python.sampling.total_s + python.update.total_s, e = engine.sampling.total_s + engine.update.total_s;
    all.push(sec(python.sampling.total_s), sec(python.update.total_s), sec(p), `${(p / e).toFixed(2)}x`);
  }
  rows.push(all);
  return table(rows);
}

function print(report: Json): void {
  const out: string[] = [];
  const m = report.machine;
  out.push(`machine: ${m.device}, ${m.dtype}, ${m.intra_op_threads} intra-op threads`);
  if (report.ceiling) {
    const c = report.ceiling;
    const sizes = c.sizes.map((z: Json) => z.n).join('/');
    out.push(`ceiling: ${c.best_gflops.toFixed(1)} GFLOP/s (best of ${c.dtype === undefined || c.dtype === 'Float' ? 'fp32' : c.dtype} matmul ${sizes} and a 3x3 convolution)`);
  }
  if (report.components) {
    out.push('', table([['component', 'batch', 'median', 'min', 'spread', 'GFLOP', 'GFLOP/s', 'of ceiling'],
      ...report.components.map((c: Json) => [c.name, String(c.batch), ms(c.time), `${(c.time.min_s * 1000).toFixed(1)} ms`,
        pct(c.time.spread), c.gflop.toFixed(1), c.gflops.toFixed(1), pct(c.share_of_ceiling)])]));
  }
  if (report.update && !report.update.skipped) {
    const u = report.update;
    out.push('', `update step, ${u.pairs} pairs: default ${ms(u.default.time)} (${u.default.evaluations_per_pair} model evaluations per pair), ` +
      `parity ${ms(u.parity.time)} (${u.parity.evaluations_per_pair} per pair): ${u.speedup_vs_parity.toFixed(2)}x faster`);
    for (const v of u.optimizer_step?.variants ?? []) {
      out.push(`optimizer step (AdamW on the ${u.optimizer_step.lora_dtype} LoRA), gradient checkpointing ${v.gradient_checkpointing ? 'on' : 'off'}: ` +
        `${ms(v.time)}, ${v.gflops.toFixed(1)} GFLOP/s (${pct(v.share_of_ceiling)} of ceiling)` +
        (v.peak_device_bytes !== undefined ? `, peak GPU memory ${(v.peak_device_bytes / 2 ** 30).toFixed(2)} GiB` : ''));
    }
  }
  if (report.kernels) {
    out.push('', table([['kernel', 'fused', 'ATen', 'speedup'],
      ...report.kernels.map((k: Json) => [`${k.name} [${k.shape.join('x')}]`, ms(k.fused), ms(k.aten), `${k.speedup.toFixed(2)}x`])]));
  }
  if (report.round) {
    const r = report.round;
    out.push('', `SPO round (${r.prompts} prompts, k ${r.k}, ${r.steps} steps): sampling ${r.sampling_s.toFixed(2)} s, update ${r.update_s.toFixed(2)} s, ` +
      `${r.pairs_kept} pairs kept, model evaluations per kept pair: sampling ${r.sampling_evaluations_per_kept_pair.toFixed(2)}, ` +
      `update ${r.update_evaluations_per_kept_pair.toFixed(2)}; ${r.pairs_per_second.toFixed(3)} pairs/s; peak RSS ${(r.peak_rss_bytes / 2 ** 30).toFixed(2)} GiB` +
      (r.peak_device_bytes !== undefined ? `; peak GPU memory (allocator) ${(r.peak_device_bytes / 2 ** 30).toFixed(2)} GiB` : ""));
    if (r.profile) {
      out.push('', 'where the round\'s time goes (seconds by phase):');
      out.push(profileTable(r.profile, report.python_baseline?.round?.profile));
    }
  }
  if (report.python_baseline) {
    const p = report.python_baseline;
    if (p.skipped) out.push('', `Python baseline: skipped (${p.skipped})`);
    else {
      out.push('', `Python baseline (diffusers + peft, torch ${p.torch}, copied reference, ${p.update_unet_calls_per_minibatch} UNet calls per minibatch):`);
      out.push(`  update step ${p.pairs} pairs: ${ms(p.update)}` + (report.update?.default ? `; the engine is ${(p.update.median_s / report.update.default.time.median_s).toFixed(2)}x faster` : ''));
      out.push(`  sampling round: ${p.round.sampling.median_s.toFixed(2)} s` + (report.round ? `; the engine is ${(p.round.sampling.median_s / report.round.sampling_s).toFixed(2)}x faster` : ''));
    }
  }
  if (report.ratios) {
    const q = report.ratios;
    out.push('', `against the Python baseline (its seconds / the engine's): sampling ${q.sampling.toFixed(2)}x, ` +
      `update ${q.update.toFixed(2)}x, whole round ${q.round.toFixed(2)}x`);
  }
  const l = report.round?.latent;
  if (l) {
    const per = (x: number) => x.toFixed(2);
    out.push('', `SPO round with the latent evaluator (random weights; no x0 calls, no VAE decode): sampling ${l.sampling_s.toFixed(2)} s, ` +
      `update ${l.update_s.toFixed(2)} s, round ${l.round_s.toFixed(2)} s, ${l.pairs_kept} pairs kept, model evaluations per kept pair: ` +
      `sampling ${per(l.sampling_evaluations_per_kept_pair)}, update ${per(l.update_evaluations_per_kept_pair)}; ` +
      `the engine's pixel round / this one: ${l.latent_round_vs_engine_pixel.toFixed(2)}x`);
    if (l.latent_round_vs_python !== undefined) {
      out.push(`against the Python baseline's pixel round (its seconds / the latent round's): sampling ${l.latent_sampling_vs_python.toFixed(2)}x, ` +
        `update ${l.latent_update_vs_python.toFixed(2)}x, whole round ${l.latent_round_vs_python.toFixed(2)}x`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Ratios old / new of every median time both reports hold (> 1: the new run is faster). */
function compare(old: Json, now: Json): void {
  const rows: string[][] = [['figure', 'old', 'new', 'old/new']];
  const add = (name: string, a?: number, b?: number) => {
    if (a && b) rows.push([name, `${(a * 1000).toFixed(1)} ms`, `${(b * 1000).toFixed(1)} ms`, `${(a / b).toFixed(2)}x`]);
  };
  for (const c of now.components ?? []) add(c.name, old.components?.find((o: Json) => o.name === c.name)?.time.median_s, c.time.median_s);
  add('update default', old.update?.default?.time.median_s, now.update?.default?.time.median_s);
  add('update parity', old.update?.parity?.time.median_s, now.update?.parity?.time.median_s);
  for (const k of now.kernels ?? []) add(`${k.name} (fused)`, old.kernels?.find((o: Json) => o.name === k.name)?.fused.median_s, k.fused.median_s);
  add('round sampling', old.round?.sampling_s, now.round?.sampling_s);
  add('round update', old.round?.update_s, now.round?.update_s);
  add('latent round sampling', old.round?.latent?.sampling_s, now.round?.latent?.sampling_s);
  add('latent round update', old.round?.latent?.update_s, now.round?.latent?.update_s);
  for (const phase of BENCH_PHASES) {
    const at = (r: Json) => r.round?.profile ? (r.round.profile.sampling.seconds[phase] ?? 0) + (r.round.profile.update.seconds[phase] ?? 0) : undefined;
    add(`round: ${phase}`, at(old), at(now));
  }
  process.stdout.write(`\ncompared with the old run:\n${table(rows)}\n`);
}

export async function runBench(opts: BenchCliOptions, signal?: AbortSignal): Promise<number> {
  if ((opts.model === undefined) !== (opts.evaluator === undefined)) throw new Error('give both --model and --evaluator, or neither (mid-sized models)');
  const shapes = shapesWorldAssets();
  const dirs = opts.model ? { model: opts.model, evaluator: opts.evaluator! }
    : opts.workload === 'shapes' ? { model: path.join(shapes, 'base'), evaluator: path.join(shapes, 'evaluator-step-aware') }
      : midsizeModels();
  const old = opts.compare ? JSON.parse(readFileSync(opts.compare, 'utf8')) as Json : undefined;
  const settings = { steps: opts.steps, divertStartStep: opts.divert, k: opts.k, threshold: 0, trainBatchSize: opts.trainBatch };
  const sections = opts.sections?.split(',').map((s) => s.trim()) as BenchSection[] | undefined;
  const prompts = Array.from({ length: opts.prompts }, (_, i) => ['a red circle above a blue square', 'two green triangles',
    'a small yellow square', 'a purple circle left of an orange triangle'][i % 4]!);
  const pipeline = await Pipeline.load(dirs.model, { device: opts.device, dtype: opts.dtype, signal });
  const evaluator = await Evaluator.load(dirs.evaluator, { device: opts.device, signal });
  let report: BenchReport & Json;
  let latentEvaluator: Evaluator | undefined;
  try {
    // The latent round's evaluator: random weights (a round costs the same whatever they are), the text
    // tower of the workload's pixel evaluator, as Evaluator.createLatent builds a fresh one.
    if (opts.latentRound !== false && (sections === undefined || sections.includes('round'))) {
      latentEvaluator = await Evaluator.createLatent(dirs.evaluator, { latentChannels: pipeline.info.latentChannels, device: opts.device, signal });
    }
    report = await runBenchmark({ pipeline, evaluator, latentEvaluator, prompts, settings, reps: opts.reps, warmup: opts.warmup, sections }, {
      signal, onProgress: (p) => { if (p.stage === 'bench') process.stderr.write(`bench: section ${p.step}/${p.total} done\n`); },
    });
  } finally {
    pipeline.dispose();
    evaluator.dispose();
    latentEvaluator?.dispose();
  }
  // Paths relative to the working folder: a report committed to docs/ must not name this machine's folders.
  const portable = (p: string) => path.relative(process.cwd(), p) || '.';
  report.models = { model: portable(dirs.model), evaluator: portable(dirs.evaluator) };
  report.command = ['spo', ...process.argv.slice(2)].join(' ');
  report.date = new Date().toISOString();
  if (opts.pythonBaseline) {
    if (!existsSync(python)) report.python_baseline = { skipped: `no Python torch at ${python}` };
    else {
      process.stderr.write('bench: the Python baseline (diffusers + peft) ...\n');
      const r = spawnSync(python, [path.join(packageRoot, 'bench', 'python_baseline.py'), dirs.model, dirs.evaluator,
        '--prompts', String(opts.prompts), '--pairs', String(opts.trainBatch), '--k', String(opts.k), '--steps', String(opts.steps),
        '--divert', String(opts.divert), '--reps', String(opts.reps), '--warmup', String(opts.warmup),
        '--threads', String(report.machine.intra_op_threads), '--lr', String(report.settings.learningRate),
        '--max-grad-norm', String(report.settings.maxGradNorm), ...prompts.flatMap((p) => ['--prompt', p])],
      { encoding: 'utf8', maxBuffer: 1 << 24 });
      const line = r.stdout.trim().split('\n').at(-1) ?? '';
      report.python_baseline = r.status === 0 ? JSON.parse(line) : { skipped: `python_baseline.py failed: ${r.stderr.slice(-400)}` };
    }
  }
  const pythonRound = report.python_baseline?.round;
  if (report.round && pythonRound?.update_s !== undefined) {
    const python = { sampling_s: pythonRound.sampling.median_s, update_s: pythonRound.update_s };
    report.ratios = benchRatios({ sampling_s: report.round.sampling_s, update_s: report.round.update_s }, python);
    const latent = report.round.latent;
    if (latent) {
      const r = benchRatios({ sampling_s: latent.sampling_s, update_s: latent.update_s }, python);
      Object.assign(latent, { latent_round_vs_python: r.round, latent_sampling_vs_python: r.sampling, latent_update_vs_python: r.update });
    }
  }
  print(report);
  if (old) compare(old, report);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

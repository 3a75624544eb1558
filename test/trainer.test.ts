// The SPO Trainer from TypeScript on the tiny SD-1.5 pipeline and the tiny
// step-aware evaluator: settings checked up front, the event stream, the
// exported LoRA loading back, abort and exact resume, prompt files.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError, DisposedError, Evaluator, InvalidArgumentError, NotFoundError, Pipeline, StepScorer, Trainer, diagnostics,
  readPrompts, resolveSettings, type Progress, type TrainerEvent,
} from '../lib/index';

const root = path.resolve(__dirname, '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-trainer-'));
let pipelineDir: string;
let evaluator: Evaluator;
const prompts = ['a red circle', 'a blue square', 'a green triangle', 'two circles'];
const tiny = { steps: 4, divertStartStep: 1, k: 3, threshold: 0, sampleBatchSize: 2, trainBatchSize: 2, epochs: 1,
  learningRate: 1e-3 };

beforeAll(async () => {
  for (const [script, out] of [['make_evaluator_fixtures.py', 'evaluator'], ['make_pipeline_fixtures.py', 'pipeline']]) {
    const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'test', 'python', script!), path.join(work, out!)],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
  }
  pipelineDir = path.join(work, 'pipeline', 'sd15');
  evaluator = await Evaluator.load(path.join(work, 'evaluator', 'step_aware'));
}, 120_000);

afterAll(() => {
  evaluator?.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('Trainer settings', () => {
  it('resolves presets and refuses bad settings before anything runs', async () => {
    expect(resolveSettings({ preset: 'sdxl' })).toMatchObject({ k: 2, transitionsPerChain: 4, threshold: 0.4, loraRank: 64,
      learningRate: 1e-5, gradientAccumulation: 2, maxGradNorm: 1, authorsNoopClip: false, resampler: 'random' });
    const pipeline = await Pipeline.load(pipelineDir);
    const base = { pipeline, evaluator, prompts };
    expect(new Trainer({ ...base, k: 8 }).settings.k).toBe(8);
    expect(() => new Trainer({ ...base, k: 1 })).toThrow(/setting k = 1/);
    expect(() => new Trainer({ ...base, resampler: 'best' as never })).toThrow(InvalidArgumentError);
    expect(() => new Trainer({ ...base, eta: 0 })).toThrow(/eta/);
    expect(new Trainer({ ...base, onNonFinite: 'skip' }).settings.onNonFinite).toBe('skip');
    expect(new Trainer(base).settings.onNonFinite).toBe('stop');
    expect(() => new Trainer({ ...base, onNonFinite: 'ignore' as never })).toThrow(/onNonFinite/);
    expect(() => new Trainer({ ...base, bogus: 1 } as never)).toThrow(/unknown Trainer option 'bogus'/);
    // A former setting name says what it became (innerSteps counted differently), from the Trainer and the resolver.
    for (const make of [() => new Trainer({ ...base, innerSteps: 3 } as never), () => resolveSettings({ innerSteps: 3 } as never)]) {
      expect(make).toThrow(InvalidArgumentError);
      expect(make).toThrow(/innerSteps was renamed transitionsPerChain.*num_inner_step = n is transitionsPerChain = n \+ 1/);
    }
    expect(() => new Trainer({ ...base, prompts: [] })).toThrow(InvalidArgumentError);
    expect(() => new Trainer({ ...base, pipeline: {} as Pipeline })).toThrow(InvalidArgumentError);
    pipeline.dispose();
  });

  it('takes a step scorer through StepScorer alone and refuses anything else with a typed error', async () => {
    const pipeline = await Pipeline.load(pipelineDir);
    try {
      expect(evaluator).toBeInstanceOf(StepScorer);
      // Not a StepScorer: refused when the Trainer is made, before any native call.
      for (const bad of [undefined, null, {}, 'evaluator', { nativeStepScorer: () => evaluator.nativeStepScorer() }]) {
        expect(() => new Trainer({ pipeline, evaluator: bad as never, prompts })).toThrow(InvalidArgumentError);
        expect(() => new Trainer({ pipeline, evaluator: bad as never, prompts })).toThrow(/options.evaluator must be a step scorer/);
      }
      // A StepScorer whose handle is not the engine's scorer handle (a plain object, the
      // Evaluator's own model handle): the binding checks the handle's type tag.
      class Forged extends StepScorer {
        constructor(private readonly handle: unknown) { super(); }
        override nativeStepScorer() { return this.handle as never; }
      }
      for (const handle of [{}, evaluator.nativeHandle()]) {
        const run = new Trainer({ pipeline, evaluator: new Forged(handle), prompts, ...tiny, maxRounds: 1 }).train();
        await expect(run).rejects.toThrow(InvalidArgumentError);
        await expect(new Trainer({ pipeline, evaluator: new Forged(handle), prompts, ...tiny, maxRounds: 1 }).train())
          .rejects.toThrow(/scorer must be a step scorer/);
      }
      // A disposed Evaluator has no scorer to give: DisposedError when the run starts.
      const gone = await Evaluator.load(path.join(work, 'evaluator', 'step_aware'));
      const trainer = new Trainer({ pipeline, evaluator: gone, prompts, ...tiny, maxRounds: 1 });
      gone.dispose();
      await expect(trainer.train()).rejects.toThrow(DisposedError);
    } finally {
      pipeline.dispose();
    }
  });

  it('reads prompt files in both formats', async () => {
    const txt = path.join(work, 'prompts.txt'), json = path.join(work, 'prompts.json');
    writeFileSync(txt, 'a red circle\n\na blue square\n');
    writeFileSync(json, JSON.stringify([{ caption: 'a cat driving a nuke', trainset_idx: 1 }, { caption: 'two circles' }]));
    expect(await readPrompts(txt)).toEqual(['a red circle', 'a blue square']);
    expect(await readPrompts(json)).toEqual(['a cat driving a nuke', 'two circles']);
    await expect(readPrompts(path.join(work, 'missing.txt'))).rejects.toBeInstanceOf(NotFoundError);
    writeFileSync(json, '[{"text": 1}]');
    await expect(readPrompts(json)).rejects.toThrow(/record 0/);
  });
});

describe('Trainer runs', () => {
  it('streams well-formed events, exports a LoRA that loads back, and resumes an aborted run exactly', async () => {
    const pipeline = await Pipeline.load(pipelineDir);
    const output = path.join(work, 'out');
    const events: TrainerEvent[] = [];
    for await (const e of new Trainer({ pipeline, evaluator, prompts, ...tiny, output }).run()) events.push(e);
    const done = events.at(-1);
    expect(done?.type).toBe('done');
    const result = (done as Extract<TrainerEvent, { type: 'done' }>).result;
    expect(result).toMatchObject({ startRound: 0, roundsDone: 2, totalRounds: 2 });
    expect(events.filter((e) => e.type === 'round').map((e) => (e as { round: number }).round)).toEqual([1, 2]);
    const updates = events.filter((e): e is Extract<TrainerEvent, { type: 'update' }> => e.type === 'update');
    expect(updates.map((u) => u.loss)).toEqual(result.losses);
    for (const u of updates) {
      expect(Number.isFinite(u.loss) && u.ratioW > 0 && u.ratioL > 0).toBe(true);
      expect(u.policyEvaluations).toBe(u.referenceEvaluations);  // one policy and one reference forward per shared x_t
    }
    const pairs = events.filter((e) => e.type === 'pairs') as Extract<TrainerEvent, { type: 'pairs' }>[];
    expect(pairs.reduce((s, p) => s + p.kept, 0)).toBe(result.pairsKept);
    expect(result.updateEvaluations).toBe(2 * result.pairsKept);
    // LoRA B starts at 0, so the first update's policy equals the reference and its loss is ln 2 exactly;
    // after an optimiser step the policy has moved and the winner's and loser's ratios differ.
    expect(result.losses[0]).toBeCloseTo(Math.LN2, 6);
    expect(Math.max(...result.losses.slice(1).map((l) => Math.abs(l - Math.LN2)))).toBeGreaterThan(1e-6);
    expect(pipeline.hasLora).toBe(true);
    pipeline.dispose();

    const fresh = await Pipeline.load(pipelineDir);
    expect((await fresh.loadLora(result.loraFile!)).layers).toBeGreaterThan(0);
    fresh.dispose();

    const checkpointDir = path.join(work, 'ckpt');
    const p1 = await Pipeline.load(pipelineDir);
    const controller = new AbortController();
    const aborted = await new Trainer({ pipeline: p1, evaluator, prompts, ...tiny, checkpointDir }).train({
      signal: controller.signal,
      onEvent: (e) => { if (e.type === 'checkpoint' && e.round === 1) controller.abort(); },
    }).catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(AbortError);
    p1.dispose();
    const p2 = await Pipeline.load(pipelineDir);
    const resumed = await new Trainer({ pipeline: p2, evaluator, prompts, ...tiny, checkpointDir }).train();
    expect(resumed.startRound).toBe(1);
    expect(resumed.losses).toEqual(result.losses.slice(result.losses.length - resumed.losses.length));
    p2.dispose();
  }, 180_000);

  it('leaving the for-await loop early cancels the native job and waits for it to stop', async () => {
    const pipeline = await Pipeline.load(pipelineDir);
    expect(diagnostics.runningJobs()).toBe(0);
    // 20 rounds, each committing a checkpoint: how many were committed says
    // whether the job ran on to the end after the loop was left.
    const checkpointDir = path.join(work, 'ckpt-break');
    const committedRounds = () => {
      const latest = path.join(checkpointDir, 'latest');
      return existsSync(latest) ? Number(/step-(\d+)/.exec(readFileSync(latest, 'utf8'))![1]) : 0;
    };
    const trainer = new Trainer({ pipeline, evaluator, prompts, ...tiny, epochs: 10, checkpointDir, resume: false });
    const seen: TrainerEvent['type'][] = [];
    let runningInside = -1;
    for await (const e of trainer.run()) {
      seen.push(e.type);
      runningInside = diagnostics.runningJobs();  // the training job
      break;
    }
    expect(seen).toEqual(['round']);
    expect(runningInside).toBe(1);
    expect(diagnostics.runningJobs()).toBe(0);  // stopped before the loop statement completed
    expect(committedRounds()).toBeLessThan(20);

    pipeline.dispose();

    // A throw in the loop body: the consumer's error comes out, the job is stopped too.
    const fresh = await Pipeline.load(pipelineDir);  // the first run left its LoRA on `pipeline`
    const again = new Trainer({ pipeline: fresh, evaluator, prompts, ...tiny, epochs: 10, checkpointDir, resume: false });
    const thrown = await (async () => {
      for await (const e of again.run()) if (e.type === 'sampling') throw new Error('consumer failed');
    })().catch((e: unknown) => e);
    expect((thrown as Error).message).toBe('consumer failed');
    expect(diagnostics.runningJobs()).toBe(0);
    expect(committedRounds()).toBeLessThan(20);
    fresh.dispose();

    // The caller's signal still reaches the job through run(): an AbortError ends the loop.
    const third = await Pipeline.load(pipelineDir);
    const controller = new AbortController();
    const aborted = await (async () => {
      for await (const e of new Trainer({ pipeline: third, evaluator, prompts, ...tiny, epochs: 10, checkpointDir, resume: false })
        .run({ signal: controller.signal })) if (e.type === 'round') controller.abort('enough');
    })().catch((e: unknown) => e);
    expect(aborted).toBeInstanceOf(AbortError);
    expect(diagnostics.runningJobs()).toBe(0);
    expect(committedRounds()).toBeLessThan(20);
    third.dispose();
  }, 120_000);

  it('parity mode gives the same first loss with twice the update evaluations', async () => {
    const a = await Pipeline.load(pipelineDir), b = await Pipeline.load(pipelineDir);
    // Job options as on every other job ({ signal, onProgress }), with onEvent beside: both see the run.
    const raw: Progress[] = [], typed: TrainerEvent[] = [];
    const spo = await new Trainer({ pipeline: a, evaluator, prompts, ...tiny, maxRounds: 1 })
      .train({ onProgress: (p) => raw.push(p), onEvent: (e) => typed.push(e) });
    expect(raw.filter((p) => p.stage === 'update')).toHaveLength(spo.losses.length);
    expect(typed.filter((e) => e.type === 'update')).toHaveLength(spo.losses.length);
    expect(raw.filter((p) => p.stage === 'round').map((p) => p.step)).toEqual([1]);
    const parity = await new Trainer({ pipeline: b, evaluator, prompts, ...tiny, maxRounds: 1, mode: 'parity' }).train();
    expect(parity.pairsKept).toBe(spo.pairsKept);
    expect(parity.updateEvaluations).toBe(2 * spo.updateEvaluations);
    expect(Math.abs(parity.losses[0]! - spo.losses[0]!)).toBeLessThan(1e-5);
    a.dispose();
    b.dispose();
  }, 120_000);
});

describe('baselines', () => {
  it('runs D3PO through the Trainer and Diffusion-DPO from offline pairs', async () => {
    const { Image, trainDiffusionDpo } = await import('../lib/index');
    const a = await Pipeline.load(pipelineDir);
    const d3po = await new Trainer({ pipeline: a, evaluator, prompts, ...tiny, method: 'd3po', maxRounds: 1 }).train();
    expect(d3po.roundsDone).toBe(1);
    expect(d3po.updateEvaluations).toBeGreaterThan(2 * d3po.pairsKept);  // the trajectories share no x_t after the first step
    expect(Math.max(...d3po.losses.slice(1).map((l) => Math.abs(l - Math.LN2)))).toBeGreaterThan(1e-6);  // the policy moved
    a.dispose();

    const size = 32;
    const img = (level: number) => new Image(size, size, new Uint8Array(size * size * 3).fill(level));
    const pairs = [
      { prompt: 'a bright image', image0: img(220), image1: img(30), label: 0 as const },
      { prompt: 'a bright image', image0: img(40), image1: img(200), label: 1 as const },
      { prompt: 'a bright image', image0: img(40), image1: img(200), label: 'tie' as const },
    ];
    const b = await Pipeline.load(pipelineDir);
    const output = path.join(work, 'ddpo');
    const r = await trainDiffusionDpo({ pipeline: b, pairs, steps: 3, batchSize: 2, output });
    expect(r.pairsUsed).toBe(2);
    expect(r.losses).toHaveLength(3);
    expect(r.losses[0]).toBeCloseTo(Math.log(2), 6);  // policy == reference at the start
    expect(Math.abs(r.losses[2]! - Math.LN2)).toBeGreaterThan(1e-6);  // and no longer after two optimiser steps
    expect(r.updateEvaluations).toBe(3 * 2 * 4);
    b.dispose();
    const c = await Pipeline.load(pipelineDir);
    expect((await c.loadLora(r.loraFile!)).layers).toBeGreaterThan(0);
    await expect(trainDiffusionDpo({ pipeline: c, pairs: [pairs[2]!] })).rejects.toThrow(/tie/);
    c.dispose();
  }, 120_000);
});

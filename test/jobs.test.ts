// The native job runner: ordering, cancellation, error mapping, memory,
// environments that go away, and arguments that must never crash the process.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  AbortError, DDIMScheduler, InternalError, InvalidArgumentError, OutOfMemoryError, TorchError, buildInfo, diagnostics,
  type Progress, type Tensor,
} from '../lib/index';
import { randomTensor } from './helpers';

const distEntry = path.resolve(__dirname, '..', 'dist', 'index.js');

function runNode(code: string, timeoutMs = 60_000) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: timeoutMs });
  return { ...r, ms: Date.now() - started };
}

describe('job runner', () => {
  it('runs on its own threads with intra-op threads set to the cores', () => {
    const info = buildInfo();
    // One job thread unless SPO_JOB_THREADS says otherwise: a second OpenMP team makes libgomp stop spinning.
    expect(info.jobThreads).toBe(Number(process.env.SPO_JOB_THREADS ?? 0) || 1);
    expect(info.intraOpThreads).toBe(Number(process.env.SPO_NUM_THREADS ?? 0) || require('node:os').availableParallelism());
  });

  it('delivers progress events in order, then resolves', async () => {
    const seen: Progress[] = [];
    const done = await diagnostics.steppedJob(50, 0, { onProgress: (p) => seen.push(p) });
    expect(done).toBe(50);
    expect(seen.map((p) => p.step)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(seen.every((p) => p.total === 50 && p.stage === 'step')).toBe(true);
  });

  it('cancels a long job in the middle with an AbortError carrying the reason', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const started = Date.now();
    const job = diagnostics.steppedJob(2000, 5, {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.step);
        if (p.step === 10) controller.abort(new Error('enough'));
      },
    });
    const err = await job.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect((err as AbortError).cause).toEqual(new Error('enough'));
    expect(Date.now() - started).toBeLessThan(8000); // 2000 steps would take 10 s
    // The job stops at a step boundary soon after the abort (a loaded machine
    // may deliver a few more steps' progress first), far from the end.
    const last = seen.at(-1)!;
    expect(last).toBeGreaterThanOrEqual(10);
    expect(last).toBeLessThan(200);
  });

  it('cancels real engine work (a 1000-step sampling run) between steps', async () => {
    const s = new DDIMScheduler({ stepsOffset: 0 });
    const controller = new AbortController();
    let last = 0;
    const run = s.sampleGaussian({ shape: [4, 4, 64, 64], steps: 1000 }, {
      signal: controller.signal,
      onProgress: (p) => {
        last = p.step;
        if (p.step === 5) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(last).toBeLessThan(100);
  });

  it('rejects at once for a signal that is already aborted', async () => {
    const seen: number[] = [];
    const err = await diagnostics.steppedJob(10, 1, { signal: AbortSignal.abort('stop'), onProgress: (p) => seen.push(p.step) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe('stop');
    expect(seen).toEqual([]);
  });

  it('maps every kind of native exception to a typed error with the caller\'s stack', async () => {
    const cases = [
      ['invalid', InvalidArgumentError, 'ERR_SPO_INVALID_ARGUMENT'],
      ['torch', TorchError, 'ERR_SPO_TORCH'],
      ['oom', OutOfMemoryError, 'ERR_SPO_OUT_OF_MEMORY'],
      ['std', InternalError, 'ERR_SPO_INTERNAL'],
      ['unknown', InternalError, 'ERR_SPO_INTERNAL'],
    ] as const;
    for (const [kind, cls, code] of cases) {
      const err = await diagnostics.failingJob(kind).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err).toMatchObject({ code });
      expect((err as Error).stack).toContain('jobs.test.ts');
    }
    const torch = await diagnostics.failingJob('torch').catch((e: Error) => e);
    expect(torch.message).toContain('diagnostic libtorch check failed');
  });

  it('aborts a job whose progress callback throws, rejecting with that error', async () => {
    const boom = new Error('callback failed');
    let calls = 0;
    const err = await diagnostics.steppedJob(1000, 2, { onProgress: () => { calls++; throw boom; } }).catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(calls).toBe(1);
  });

  it('refuses bad options and arguments without crashing', async () => {
    await expect(diagnostics.steppedJob(1, 0, { signal: {} as AbortSignal })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(diagnostics.steppedJob(1, 0, { onProgress: 5 as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(diagnostics.steppedJob(-1, 0)).rejects.toThrow(/steps must be in/);
    await expect(diagnostics.steppedJob(Number.NaN, 0)).rejects.toThrow(/finite/);
    await expect(diagnostics.steppedJob(1e300, 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(diagnostics.failingJob('nope' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    const s = new DDIMScheduler();
    s.setTimesteps(10);
    // A shape whose element count would overflow, a sparse array, huge ranks: all refused cleanly.
    const x = randomTensor([2, 2], 1);
    await expect(s.step({ sample: { data: new Float32Array(4), shape: [2 ** 31, 2 ** 31] }, modelOutput: x, timestep: 1 }))
      .rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.step({ sample: { data: new Float32Array(4), shape: new Array(9).fill(1) }, modelOutput: x, timestep: 1 }))
      .rejects.toThrow(/1 to 8 dimensions/);
    await expect(s.sampleGaussian({ shape: [0, 4] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(s.sampleGaussian({ shape: [2, 4], std: 0 })).rejects.toThrow(/std/);
  });

  // RSS here is ~550 MB (libtorch) and glibc's per-thread arenas move it by
  // +-30 MB between rounds with no trend (8,000 jobs measured); the exact
  // accounting is V8's external memory, held to 8 MB.
  it('runs 1,000 short jobs in a row without memory growth (bound: 64 MB RSS, 8 MB external, 4 MB heap)', async () => {
    const s = new DDIMScheduler();
    s.setTimesteps(20);
    const sample = randomTensor([4, 4, 32, 32], 1), eps = randomTensor([4, 4, 32, 32], 2); // 64 KiB each
    const once = () => s.step({ sample, modelOutput: eps, timestep: [951, 501, 51, 1], eta: 1, seed: 3 });
    for (let i = 0; i < 500; i++) await once();
    global.gc?.();
    const before = process.memoryUsage();
    for (let i = 0; i < 1000; i++) await once();
    global.gc?.();
    await new Promise((r) => setTimeout(r, 10));
    global.gc?.();
    const after = process.memoryUsage();
    expect(after.rss - before.rss).toBeLessThan(64 * 2 ** 20);
    expect(after.external - before.external).toBeLessThan(8 * 2 ** 20);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(4 * 2 ** 20);
  });

  it('reports returned tensors to V8 as external memory, released by garbage collection', async () => {
    const s = new DDIMScheduler();
    const settle = async () => {
      for (let i = 0; i < 5; i++) {
        global.gc?.();
        await new Promise((r) => setImmediate(r)); // Node-API finalizers run after the collection
      }
    };
    const bytes = 8 * 4 * 128 * 128 * 4; // the result: 2 MiB of float32
    const x0 = randomTensor([8, 4, 128, 128], 1), noise = randomTensor([8, 4, 128, 128], 2);
    // Each reading follows a full collection, so garbage that an unlucky GC
    // frees in between (other tests' buffers) is gone from both: the two
    // readings differ only by the result, held in one and released in the other.
    const held: { tensor?: Tensor } = { tensor: await s.addNoise(x0, noise, 500) };
    await settle();
    const whileHeld = process.memoryUsage().external;
    expect(held.tensor?.data.length).toBe(bytes / 4); // still reachable at the reading above
    held.tensor = undefined;
    await settle();
    const released = process.memoryUsage().external;
    expect(Math.abs(whileHeld - released - bytes)).toBeLessThan(64 * 2 ** 10);
    expect(x0.data.length + noise.data.length).toBe(2 * 8 * 4 * 128 * 128);
  });

  it('runs many jobs at once', async () => {
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => diagnostics.steppedJob(i % 5, 0)));
    expect(results).toEqual(Array.from({ length: 64 }, (_, i) => i % 5));
  });
});

describe('environments and processes', () => {
  it('a worker thread that is terminated mid-job cleans up without taking the process down', async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { diagnostics } = require(${JSON.stringify(distEntry)});
       diagnostics.steppedJob(100000, 2, { onProgress: (p) => { if (p.step === 3) parentPort.postMessage('running'); } });`,
      { eval: true },
    );
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    const code = await worker.terminate();
    expect(code).toBe(1);
    await expect(diagnostics.steppedJob(3, 0)).resolves.toBe(3); // this environment's runner still works
  });

  it('survives workers terminated at random points while they load the addon and stream progress', () => {
    const r = runNode(`const { Worker } = require('node:worker_threads');
      (async () => {
        for (let i = 0; i < 25; i++) {
          const w = new Worker(\`const { diagnostics } = require(${JSON.stringify(distEntry)});
            for (let j = 0; j < 4; j++) diagnostics.steppedJob(100000, 0, { onProgress: () => {} }).catch(() => {});\`, { eval: true });
          await new Promise((r) => setTimeout(r, 10 + (i % 7) * 15));
          await w.terminate();
        }
        console.log('survived');
      })();`, 120_000);
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe('survived');
  }, 130_000);

  it('process.exit with a job running exits promptly and cleanly', () => {
    const r = runNode(`const { diagnostics } = require(${JSON.stringify(distEntry)});
      diagnostics.steppedJob(100000, 5, { onProgress: (p) => { if (p.step === 2) process.exit(7); } });`);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(7);
    expect(r.ms).toBeLessThan(20_000);
  });

  it('an idle runner does not keep the process alive', () => {
    const r = runNode(`const { diagnostics } = require(${JSON.stringify(distEntry)});
      diagnostics.steppedJob(3, 1).then((n) => console.log('done', n));`, 30_000);
    expect(r.stdout.trim()).toBe('done 3');
    expect(r.status).toBe(0);
  });

  it('garbage passed straight to the native addon never aborts the process', () => {
    const r = runNode(`const { native } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'native', 'native.js'))});
      const a = native();
      const junk = [undefined, null, 0, -1, NaN, Infinity, 'x', {}, [], [1, 2], () => 1, Symbol('s'), 10n ** 30n,
        { data: new Float64Array(4), shape: [4] }, { data: new Float32Array(4), shape: [4.5] }, new Proxy({}, { get() { throw new Error('trap'); } })];
      let threw = 0;
      const tryIt = (f) => { try { const p = f(); if (p && p.catch) p.catch(() => {}); } catch { threw++; } };
      const s = new a.DDIMScheduler();
      for (const j of junk) {
        tryIt(() => new a.DDIMScheduler(j));
        tryIt(() => s.setTimesteps(j));
        tryIt(() => s.prevTimestep(j));
        tryIt(() => s.step(j));
        tryIt(() => s.step({ sample: j, modelOutput: j, timestep: j }));
        tryIt(() => s.addNoise(j, j, j));
        tryIt(() => s.sampleGaussian(j));
        tryIt(() => s.step({}, j, j));
        tryIt(() => a.diagnostics.steppedJob(j, j, j, j));
        tryIt(() => a.diagnostics.failingJob(j));
        tryIt(() => a.DDIMScheduler.prototype.setTimesteps.call(j, 10));
      }
      s.dispose(); s.dispose();
      tryIt(() => s.setTimesteps(10));
      setTimeout(() => console.log('alive', threw > 50), 100);`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('alive true');
    expect(r.status).toBe(0);
  });

  it('refuses objects of the wrong class as `this` or as a cancel token', () => {
    const r = runNode(`const { native } = require(${JSON.stringify(path.resolve(__dirname, '..', 'dist', 'native', 'native.js'))});
      const a = native();
      const s = new a.DDIMScheduler();
      const token = new a.CancelToken();
      const results = [];
      // V8's own receiver check ("Illegal invocation") or the addon's type tags.
      const attempt = (f) => { try { f(); results.push('ran'); } catch (e) { results.push(e.code ?? e.name); } };
      attempt(() => a.DDIMScheduler.prototype.setTimesteps.call(token, 10));
      attempt(() => a.CancelToken.prototype.cancel.call(s));
      attempt(() => Object.setPrototypeOf({}, a.CancelToken.prototype).cancel());
      attempt(() => s.step({}, Object.setPrototypeOf({}, a.CancelToken.prototype)));
      attempt(() => s.setTimesteps(10));
      console.log(JSON.stringify(results));`);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['TypeError', 'TypeError', 'TypeError', 'ERR_SPO_INVALID_ARGUMENT', 'ran']);
  });

  it('hands JavaScript a copy of engine state, never the state itself', () => {
    const s = new DDIMScheduler();
    s.alphasCumprod().fill(0.5);
    s.betas().fill(0.5);
    expect(s.alphasCumprod()[0]).toBeCloseTo(0.99915, 6);
    expect(s.betas()[0]).toBeCloseTo(0.00085, 8);
  });
});

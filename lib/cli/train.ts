// `spo train`: SPO fine-tuning of a pipeline's UNet with a LoRA, judged by a
// step-aware preference model, with a progress display (round, step, pairs
// kept, loss, rate), a JSONL log of every event, and resumable checkpoints.
// With --nproc N (or --nnodes) it launches N data-parallel rank processes of
// itself (launch.ts); a rank process (WORLD_SIZE > 1 in its environment) joins
// the run, and only rank 0 shows progress, logs events and writes the LoRA.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { MultiBar, Presets } from 'cli-progress';
import { Evaluator } from '../models/evaluator';
import { Pipeline } from '../models/pipeline';
import { Trainer, type Preset, type SpoSettings } from '../training/trainer';
import { joinRanks, launchRanks, launchesRanks, type RankCliOptions } from './rank-process';
import type { Device, DType } from '../runtime/device';

export interface TrainCliOptions extends RankCliOptions {
  model: string;
  evaluator: string;
  prompts: string;
  out: string;
  preset: Preset;
  set: string[];
  checkpointDir?: string;
  log?: string;
  maxRounds?: number;
  device: Device;
  dtype: DType;
}

/** "--set k=4" values: numbers, booleans or strings. */
export function parseOverrides(pairs: string[]): Partial<SpoSettings> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects key=value, got '${pair}'`);
    const key = pair.slice(0, eq), raw = pair.slice(eq + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out as Partial<SpoSettings>;
}

export async function runTrain(opts: TrainCliOptions, signal?: AbortSignal): Promise<number> {
  const overrides = parseOverrides(opts.set);
  if (launchesRanks(opts)) return launchRanks(opts, signal);
  const { distributed, quiet, stopOrphanCheck, ...rank } = joinRanks(opts, signal);
  signal = rank.signal;
  const pipeline = await Pipeline.load(opts.model, { device: opts.device, dtype: opts.dtype, signal });
  const evaluator = await Evaluator.load(opts.evaluator, { device: opts.device, signal });
  const logFile = opts.log ?? path.join(opts.out, 'events.jsonl');
  if (!quiet) await mkdir(path.dirname(path.resolve(logFile)), { recursive: true });
  const log = quiet ? undefined : createWriteStream(logFile, { flags: 'a' });
  const bars = new MultiBar({ stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2000, hideCursor: false,
    format: '{label} [{bar}] {value}/{total} {info}' }, Presets.legacy);
  try {
    const trainer = new Trainer({
      pipeline, evaluator, prompts: opts.prompts, preset: opts.preset, ...overrides, output: opts.out,
      checkpointDir: opts.checkpointDir ?? path.join(opts.out, 'checkpoints'), maxRounds: opts.maxRounds,
      ...(distributed ? { distributed } : {}),
    });
    if (quiet) {
      const r = await trainer.train({ signal });
      process.stdout.write(`rank ${r.rank}/${r.worldSize}: rounds ${r.roundsDone}, optimizer steps ${r.optimizerSteps}, ` +
        `all-reduced ${r.communication.allReduceBytes} B, gathered ${r.communication.allGatherBytes} B\n`);
      return 0;
    }
    log!.write(`${JSON.stringify({ type: 'settings', time: new Date().toISOString(), settings: trainer.settings })}\n`);
    const rounds = bars.create(1, 0, { label: 'rounds  ', info: '' });
    const steps = bars.create(trainer.settings.steps, 0, { label: 'sampling', info: '' });
    const started = Date.now();
    let kept = 0, lastLoss = NaN, doneRounds = 0;
    for await (const event of trainer.run({ signal })) {
      log!.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`);
      switch (event.type) {
        case 'round':
          rounds.setTotal(event.totalRounds);
          steps.update(0);
          break;
        case 'sampling':
          steps.update(event.step, { info: `pairs kept ${event.pairsKept}` });
          break;
        case 'pairs':
          kept += event.kept;
          break;
        case 'update':
          lastLoss = event.loss;
          break;
        case 'checkpoint': {
          doneRounds = event.round;
          const rate = (doneRounds * 60_000) / Math.max(1, Date.now() - started);
          rounds.update(event.round, { info: `pairs kept ${kept} | loss ${lastLoss.toFixed(4)} | ${rate.toFixed(2)} rounds/min` });
          break;
        }
        case 'done': {
          bars.stop();
          const r = event.result;
          process.stdout.write(`rounds ${r.roundsDone}/${r.totalRounds} (from ${r.startRound}), pairs kept ${r.pairsKept}, ` +
            `tied ${r.pairsTied}, cut ${r.pairsCut}, optimizer steps ${r.optimizerSteps}\n`);
          process.stdout.write(`model evaluations: sampling ${r.samplingEvaluations}, update ${r.updateEvaluations}` +
            ` (${r.pairsKept ? (r.updateEvaluations / r.pairsKept).toFixed(2) : '-'} per kept pair); ` +
            `time: sampling ${r.samplingSeconds.toFixed(1)} s, update ${r.updateSeconds.toFixed(1)} s\n`);
          if (r.loraFile) process.stdout.write(`LoRA: ${r.loraFile}\n`);
          if (r.worldSize > 1) {
            const c = r.communication;
            process.stdout.write(`data parallel: ${r.worldSize} ranks; rank 0 all-reduced ${c.allReduceBytes} B and ` +
              `gathered ${c.allGatherBytes} B in ${c.collectives} collectives\n`);
          }
          break;
        }
      }
    }
    return 0;
  } finally {
    stopOrphanCheck();
    bars.stop();
    if (log) await new Promise<void>((resolve) => log.end(resolve));
    evaluator.dispose();
    pipeline.dispose();
  }
}

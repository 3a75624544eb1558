// SPO fine-tuning from TypeScript (docs/method.md §2, §3, §6): a Trainer over a
// loaded Pipeline and Evaluator, with settings validated up front, typed
// events as an async iterator (run) or a Promise (train), abort at the next
// step boundary with a resumable checkpoint, and the LoRA exported in
// diffusers' format. The method itself runs in the native engine.
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { callSync, runJob, type JobOptions, type Progress } from '../runtime/jobs';
import { native } from '../native/native';
import { withoutUndefined } from '../native/native-args';
import type { NativeTrainResult } from '../native/native-types';
import { Pipeline } from '../models/pipeline';
import { StepScorer } from './step-scorer';
import { SPO_RENAMED_SETTINGS, SPO_SETTING_NAMES, type Preset, type SpoSettings } from '../generated/spo-settings';

// The settings' type and names are generated from the native schema (one declaration).
export type { Preset, SpoSettings } from '../generated/spo-settings';

/**
 * One rank of a data-parallel run on PyTorch's c10d (Gloo on CPU, NCCL on CUDA
 * builds): each rank samples its share of every round's prompts, the kept pairs
 * are gathered and split evenly, gradients are averaged before each step. Rank 0
 * alone emits the run's events, writes checkpoints and the LoRA. Unset fields
 * come from RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (`spo train --nproc` sets them).
 */
export interface DistributedOptions {
  rank?: number;
  worldSize?: number;
  /** The TCP rendezvous: rank 0 serves it at masterAddr:masterPort. */
  masterAddr?: string;
  masterPort?: number;
  /** Rendezvous through this file (a shared file system) instead of TCP. */
  fileStore?: string;
  /** 'auto' (default): NCCL when the pipeline is on CUDA and the build has it, else Gloo. */
  backend?: 'auto' | 'gloo' | 'nccl';
  /** A dead rank ends its peers at once; a stalled one after this long (default 120). */
  timeoutSeconds?: number;
}

export interface TrainerOptions extends Partial<Omit<SpoSettings, 'preset'>> {
  pipeline: Pipeline;
  /**
   * The step scorer: a loaded Evaluator, or any other StepScorer (such as the
   * shapes world's judge, `WorldJudgeScorer` from 'spo-diffusion/world').
   */
  evaluator: StepScorer;
  /** The prompts, or a file: one per line, or the authors' JSON of {caption} records. */
  prompts: string[] | string;
  preset?: Preset;
  /** Where the final LoRA goes: <output>/pytorch_lora_weights.safetensors (diffusers' name). */
  output?: string;
  /** Round checkpoints (LoRA, optimizer, counters, settings), resumed automatically. */
  checkpointDir?: string;
  /** Continue from checkpointDir's latest checkpoint (default true). */
  resume?: boolean;
  /** Stop after this many rounds in total (default: all epochs). */
  maxRounds?: number;
  /** Join a data-parallel run; a world size of 1 trains as without. */
  distributed?: DistributedOptions;
}

export type TrainResult = NativeTrainResult;

/**
 * Trainer.train's job options: the engine's own (signal; onProgress, the raw
 * progress as every job reports it) and onEvent, the same progress as typed
 * TrainerEvents.
 */
export interface TrainJobOptions extends JobOptions {
  onEvent?: (event: TrainerEvent) => void;
}

export type TrainerEvent =
  | { type: 'round'; round: number; totalRounds: number; epoch: number; prompts: number }
  | { type: 'sampling'; round: number; step: number; totalSteps: number; pairsKept: number }
  | { type: 'pairs'; round: number; kept: number; tied: number; cut: number; samplingEvaluations: number }
  | { type: 'update'; round: number; minibatch: number; minibatches: number; loss: number; ratioW: number;
      ratioL: number; lr: number; gradNorm: number; clippedShare: number; policyEvaluations: number;
      referenceEvaluations: number }
  | { type: 'skipped'; round: number; minibatch: number }
  | { type: 'checkpoint'; round: number }
  | { type: 'done'; result: TrainResult };

// 'preset' is an option here: it picks the base the other settings override. Former names go
// to the engine too, which refuses them saying what they became.
const settingKeys = new Set<string>([...SPO_SETTING_NAMES.filter((name) => name !== 'preset'),
  ...Object.keys(SPO_RENAMED_SETTINGS)]);
const optionKeys = new Set(['pipeline', 'evaluator', 'prompts', 'preset', 'output', 'checkpointDir', 'resume', 'maxRounds',
  'distributed']);

/** Reads a prompt file: one per line, or the authors' JSON array of {caption} records (or strings). */
export async function readPrompts(file: string, options?: JobOptions): Promise<string[]> {
  const site = captureCallSite(readPrompts);
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('readPrompts needs a file path');
  return runJob(site, options, (token, progress) => native().readPromptFile(file, token, progress));
}

/** The full settings of a preset with overrides applied, validated (throws InvalidArgumentError naming the setting). */
export function resolveSettings(overrides: Partial<SpoSettings> = {}): SpoSettings {
  return callSync(() => native().validateSpoSettings(overrides));
}

function toEvent(p: Progress, round: { current: number }): TrainerEvent | undefined {
  const m = p.metrics ?? {};
  switch (p.stage) {
    case 'round':
      round.current = p.step;
      return { type: 'round', round: p.step, totalRounds: p.total, epoch: m.epoch ?? 0, prompts: m.prompts ?? 0 };
    case 'sample':
      return { type: 'sampling', round: round.current, step: p.step, totalSteps: p.total, pairsKept: m.pairsKept ?? 0 };
    case 'pairs':
      return { type: 'pairs', round: p.step, kept: m.kept ?? 0, tied: m.tied ?? 0, cut: m.cut ?? 0,
        samplingEvaluations: m.samplingEvaluations ?? 0 };
    case 'update':
      return { type: 'update', round: m.round ?? round.current, minibatch: p.step, minibatches: p.total, loss: m.loss ?? p.value,
        ratioW: m.ratioW ?? 1, ratioL: m.ratioL ?? 1, lr: m.lr ?? 0, gradNorm: m.gradNorm ?? 0,
        clippedShare: m.clippedShare ?? 0, policyEvaluations: m.policyEvaluations ?? 0,
        referenceEvaluations: m.referenceEvaluations ?? 0 };
    case 'skip':
      return { type: 'skipped', round: m.round ?? round.current, minibatch: p.step };
    case 'checkpoint':
      return { type: 'checkpoint', round: p.step };
    default:
      return undefined;  // stages of inner jobs (e.g. "candidates") are not part of the event stream
  }
}

export class Trainer {
  readonly settings: SpoSettings;
  readonly #options: TrainerOptions;
  #running = false;

  constructor(options: TrainerOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('new Trainer(options) needs an object');
    if (!(options.pipeline instanceof Pipeline)) throw new InvalidArgumentError('options.pipeline must be a loaded Pipeline');
    if (!(options.evaluator instanceof StepScorer)) {
      throw new InvalidArgumentError('options.evaluator must be a step scorer (a loaded Evaluator or another StepScorer)');
    }
    const prompts = options.prompts;
    if (!(typeof prompts === 'string' && prompts.length > 0) &&
        !(Array.isArray(prompts) && prompts.length > 0 && prompts.every((p) => typeof p === 'string'))) {
      throw new InvalidArgumentError('options.prompts must be a non-empty array of strings or a prompt file path');
    }
    const overrides: Record<string, unknown> = { preset: options.preset ?? 'sd15' };
    for (const [key, value] of Object.entries(options)) {
      if (settingKeys.has(key)) overrides[key] = value;
      else if (!optionKeys.has(key)) throw new InvalidArgumentError(`unknown Trainer option '${key}'`);
    }
    this.settings = resolveSettings(overrides as Partial<SpoSettings>);
    this.#options = options;
  }

  /**
   * Runs training as a stream of typed events, ending with { type: 'done' }.
   * Leaving the loop early (break, return, a throw in its body) cancels the
   * native job and waits for it to stop before the loop statement completes.
   */
  async *run(options: JobOptions = {}): AsyncGenerator<TrainerEvent, TrainResult, void> {
    const { signal, onProgress } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError('options.signal must be an AbortSignal');
    }
    // The job listens to a signal of our own, so that the loop's early exit can
    // cancel it; the caller's signal is forwarded to it.
    const stop = new AbortController();
    const forward = () => stop.abort(signal?.reason);
    if (signal?.aborted) forward();
    else signal?.addEventListener('abort', forward, { once: true });
    const queue: TrainerEvent[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    let result: TrainResult | undefined;
    const job = this.train({
      signal: stop.signal,
      onProgress,
      onEvent: (e) => { queue.push(e); wake?.(); },
    }).then((r) => { result = r; }, (e: unknown) => { failure = e; }).finally(() => { finished = true; wake?.(); });
    try {
      while (true) {
        while (queue.length > 0) yield queue.shift()!;
        if (finished) break;
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
      }
    } finally {
      // Reached with the job unfinished only when the consumer left the loop:
      // its AbortError is then expected and dropped with the generator.
      signal?.removeEventListener('abort', forward);
      if (!finished) stop.abort();
      await job;
    }
    if (failure !== undefined) throw failure;
    yield { type: 'done', result: result! };
    return result!;
  }

  /** Runs training to the end (or to maxRounds); onEvent sees every event of run(), onProgress the raw progress. */
  async train(options: TrainJobOptions = {}): Promise<TrainResult> {
    const site = captureCallSite(this.train);
    if (this.#running) throw new InvalidArgumentError('this Trainer is already running');
    const { signal, onEvent, onProgress } = options;
    if (onEvent !== undefined && typeof onEvent !== 'function') throw new InvalidArgumentError('onEvent must be a function');
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new InvalidArgumentError('options.onProgress must be a function');
    }
    this.#running = true;
    try {
      const o = this.#options;
      const prompts = typeof o.prompts === 'string' ? await readPrompts(o.prompts, { signal }) : o.prompts;
      const round = { current: 0 };
      const args = withoutUndefined({
        pipeline: o.pipeline.nativeHandle(),
        scorer: o.evaluator.nativeStepScorer(),
        prompts, settings: this.settings,
        outputDir: o.output, checkpointDir: o.checkpointDir, resume: o.resume, maxRounds: o.maxRounds,
        distributed: o.distributed,
      });
      const result = await runJob(site, {
        signal,
        onProgress: (onEvent || onProgress) && ((p) => {
          onProgress?.(p);
          const e = onEvent && toEvent(p, round);
          if (e) onEvent!(e);
        }),
      }, (token, progress) => native().trainSpo(args, token, progress));
      return result;
    } finally {
      this.#running = false;
    }
  }
}

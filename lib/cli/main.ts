#!/usr/bin/env node
// The `spo` command line.
import { Command, InvalidArgumentError as CliArgError } from 'commander';
import { runBench } from './bench';
import { runDdimCheck } from './ddim-check';
import { runDemo } from './demo';
import { runEval } from './eval';
import { runExperiment } from './experiment';
import { runPretrainWorld } from './pretrain-world';
import { runSample } from './sample';
import { runTrain } from './train';
import { runTrainEvaluator } from './train-evaluator';
import { buildInfo } from '../runtime/runtime';
import { SpoError } from '../runtime/errors';

function number(name: string, opts: { integer?: boolean; min?: number; max?: number } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
      throw new CliArgError(`${name} must be ${opts.integer ? 'an integer' : 'a number'}`);
    }
    if ((opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
      throw new CliArgError(`${name} must be in [${opts.min ?? '-inf'}, ${opts.max ?? 'inf'}]`);
    }
    return n;
  };
}

const worldTrack = (v: string) => {
  if (v !== 'relations' && v !== 'scenes') throw new CliArgError("must be 'relations' or 'scenes'");
  return v;
};

/** Runs a command with an AbortSignal that Ctrl-C fires; its result is the exit code (options: commander's). */
function cancellable<O = any>(run: (opts: O, signal: AbortSignal) => Promise<number>) {
  return async (opts: O): Promise<void> => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await run(opts, controller.signal);
  };
}

/** --device and --dtype, as every command that loads models takes them. */
function withDevice(command: Command, dtypeHelp = "'fp32', 'fp16' or 'bf16'"): Command {
  return command.option('--device <d>', "'cpu' or 'cuda'", 'cpu').option('--dtype <t>', dtypeHelp, 'fp32');
}

/** The data-parallel launch options (lib/cli/launch.ts reads them). */
function withDistributed(command: Command, nprocHelp: string): Command {
  return command
    .option('--nproc <n>', nprocHelp, number('nproc', { integer: true, min: 1, max: 1024 }), 1)
    .option('--nnodes <n>', 'hosts of a multi-host run', number('nnodes', { integer: true, min: 1 }), 1)
    .option('--node-rank <i>', "this host's index in [0, --nnodes)", number('node-rank', { integer: true, min: 0 }), 0)
    .option('--master-addr <host>', "rank 0's host (multi-host; default 127.0.0.1)")
    .option('--master-port <port>', 'rendezvous port (multi-host; default a free local port)', number('master-port', { integer: true, min: 1, max: 65535 }))
    .option('--dist-timeout <s>', 'seconds a stalled rank may hold up the others (default 120)', number('dist-timeout', { min: 1 }));
}

const program = new Command();
program.name('spo').description('Step-aware Preference Optimization for diffusion models');

program
  .command('demo')
  .description('SPO on the built-in shapes world: fine-tune the shipped base model, judge the test split before and after')
  .option('--world <track>', "which world: 'scenes' (world v2: defects no prompt names, judge v2) or 'relations'", worldTrack, 'scenes')
  .option('--assets <dir>', "shapes-world models (default: the package's own for the world, assets/scenes-world or assets/shapes-world)")
  .option('--prompts <n>', 'test prompts judged before and after', number('prompts', { integer: true, min: 1, max: 500 }), 500)
  .option('--rounds <n>', 'SPO rounds, each sampling 8 train prompts (default: scenes 30, relations 24)', number('rounds', { integer: true, min: 1, max: 100000 }))
  .option('--seed <n>', 'random seed (sampling and training)', number('seed', { integer: true, min: 0, max: 2 ** 31 }), 42)
  .option('--out <dir>', 'folder for the judged images, their manifest, the PNG grid, the summary and the LoRA', 'spo-demo')
  .option('--json', 'print the JSON summary only', false)
  .action(cancellable(runDemo));

program
  .command('experiment')
  .description("the paper's Tables 2-5 in miniature on the shapes world (equal UNet-evaluation budgets, learning rates chosen on the validation split, several seeds, test split)")
  .option('--world <track>', "'scenes' or 'relations' (default: the world the --assets models were made for; scenes without --assets, as spo demo)", worldTrack)
  .option('--assets <dir>', "shapes-world models (default: the package's own for --world, assets/shapes-world or assets/scenes-world)")
  .option('--tables <list>', 'which tables, e.g. 2,3', '2,3,4,5')
  .option('--rows <ids>', 'only these rows (ids: base, spo, diffusion-dpo, d3po, resampler-none, resampler-win, resampler-lose, evaluator-step-agnostic, evaluator-plain, evaluator-oracle, k2, k8)')
  .option('--seeds <n>', 'training seeds per row (the report also shows any further seeds stored for a row)', number('seeds', { integer: true, min: 1, max: 100 }), 3)
  .option('--budget <n>', 'guided UNet evaluations per training run, sampling and update together', number('budget', { integer: true, min: 1 }), 8192)
  .option('--lrs <list>', 'the learning-rate grid every trained row is tuned on (validation split), e.g. 3e-4,1e-3,3e-3; a best rate at its edge also tries the next half-decade past it')
  .option('--prompts <n>', 'test prompts judged per final run', number('prompts', { integer: true, min: 1, max: 500 }), 500)
  .option('--validation-prompts <n>', 'validation prompts judged per tuning run', number('validation-prompts', { integer: true, min: 1, max: 500 }), 200)
  .option('--settings <json>', 'SPO settings over the world preset, e.g. \'{"steps":4}\' for a dry run (not the learning rate)')
  .option('--eval-seed <n>', 'sampling seed of the judged images', number('eval-seed', { integer: true, min: 0 }), 1234)
  .option('--results <file>', 'JSON results, accumulated across runs', 'experiment/results.json')
  .option('--report <file>', 'the Markdown report', 'docs/RESULTS.md')
  .action(cancellable(runExperiment));

program
  .command('ddim-check')
  .description('check the DDIM sampler against the closed form of a Gaussian target (no models needed)')
  .option('--steps <n>', 'DDIM steps', number('steps', { integer: true, min: 1, max: 1000 }), 50)
  .option('--eta <x>', 'DDIM eta (1 = stochastic, SPO default)', number('eta', { min: 0, max: 10 }), 1)
  .option('--batch <n>', 'samples in the batch', number('batch', { integer: true, min: 1, max: 4096 }), 16)
  .option('--size <n>', 'latent height and width', number('size', { integer: true, min: 1, max: 1024 }), 64)
  .option('--seed <n>', 'random seed', number('seed', { integer: true, min: 0 }), 42)
  .option('--mean <x>', 'target mean', number('mean'), 0.5)
  .option('--std <x>', 'target standard deviation', number('std', { min: 1e-6 }), 0.3)
  .option('--json', 'print a JSON summary only', false)
  .action(cancellable(runDdimCheck));

const sample = program
  .command('sample')
  .description('generate images from a diffusers SD-1.5 / SDXL pipeline directory, one PNG per prompt')
  .requiredOption('--model <dir>', 'pipeline directory (model_index.json, unet, vae, text_encoder, ...)')
  .requiredOption('--prompt <text>', 'a prompt (repeat for several)', (v: string, all: string[] = []) => [...all, v])
  .requiredOption('--out <dir>', 'folder for the PNG files')
  .option('--negative-prompt <text>', 'the unconditional branch\'s prompt (default "")')
  .option('--steps <n>', 'DDIM steps', number('steps', { integer: true, min: 1, max: 1000 }), 20)
  .option('--guidance <w>', 'classifier-free guidance scale', number('guidance', { min: 0, max: 100 }), 5)
  .option('--eta <x>', 'DDIM eta (1 = stochastic, 0 = deterministic)', number('eta', { min: 0, max: 10 }), 1)
  .option('--seed <n>', 'random seed', number('seed', { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER }), 42)
  .option('--width <px>', 'image width (multiple of 8)', number('width', { integer: true, min: 8, max: 16384 }))
  .option('--height <px>', 'image height (multiple of 8)', number('height', { integer: true, min: 8, max: 16384 }));
withDevice(sample).action(cancellable(runSample));

const repeat = (v: string, all: string[] = []) => [...all, v];

const predictionType = (v: string) => {
  if (v !== 'epsilon' && v !== 'v_prediction') throw new CliArgError("must be 'epsilon' or 'v_prediction'");
  return v;
};

program
  .command('pretrain-world')
  .description("train the shapes world's tiny models from scratch (what assets/shapes-world holds); finished stages are skipped")
  .requiredOption('--out <dir>', 'output folder (base/, evaluator-*/, report.json)')
  .option('--seed <n>', 'random seed', number('seed', { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER }), 1)
  .option('--scale <x>', "multiplies every stage's steps and samples (quick checks: 0.01)", number('scale', { min: 1e-4, max: 100 }), 1)
  .option('--prediction <type>', "the base model's parametrisation: epsilon (SD-1.5, the shipped models) or v_prediction (SD-2.x)", predictionType, 'epsilon')
  .option('--world <track>', 'relations (positions and relations: assets/shapes-world) or scenes (world v2, renders with defects and judge v2: assets/scenes-world)', worldTrack, 'relations')
  .option('--vae-steps <n>', 'VAE steps (default: relations 300, scenes 1000)', number('vae-steps', { integer: true, min: 1 }))
  .option('--diffusion-steps <n>', 'text encoder + UNet steps (default 3600)', number('diffusion-steps', { integer: true, min: 1 }))
  .option('--pair-prompts <n>', 'train prompts sampled and judged for the pairs (default 1500)', number('pair-prompts', { integer: true, min: 1 }))
  .option('--validation-prompts <n>', 'validation prompts sampled and judged (default: relations 200, scenes 100)', number('validation-prompts', { integer: true, min: 1, max: 500 }))
  .option('--samples-per-prompt <n>', 'samples per prompt for the pairs (default: relations 2, scenes 6: every untied pair)', number('samples-per-prompt', { integer: true, min: 2, max: 64 }))
  .option('--caption-share <x>', 'share of CLIP captions naming their defects (default: relations 0, scenes 0.5)', number('caption-share', { min: 0, max: 1 }))
  .option('--sampling-steps <n>', 'DDIM steps of the base samples and pairs (default: relations 10, scenes 20)', number('sampling-steps', { integer: true, min: 1, max: 1000 }))
  .option('--tie-margin <x>', 'judge totals closer than this are a tie (default 0.02)', number('tie-margin', { min: 0, max: 0.99 }))
  .option('--plain-lr <x>', 'plain evaluator learning rate (default 3e-4)', number('plain-lr', { min: 1e-9, max: 0.5 }))
  .option('--noisy-lr <x>', 'step-aware / step-agnostic learning rate (default 1e-4)', number('noisy-lr', { min: 1e-9, max: 0.5 }))
  .option('--clip-steps <n>', 'contrastive CLIP steps (default 1500)', number('clip-steps', { integer: true, min: 1 }))
  .option('--plain-steps <n>', 'plain evaluator steps on clean pairs (default 800)', number('plain-steps', { integer: true, min: 1 }))
  .option('--noisy-steps <n>', 'step-aware / step-agnostic evaluator steps (default 500)', number('noisy-steps', { integer: true, min: 1 }))
  .option('--rollout-prompts <n>', 'train prompts for rollout pairs (labelled by the world\'s own judge); > 0 adds evaluator-rollout and its step-agnostic twin evaluator-rollout-agnostic, in place of evaluator-step-agnostic (default 0)', number('rollout-prompts', { integer: true, min: 0, max: 36056 }))
  .option('--rollout-validation-prompts <n>', 'validation prompts for rollout pairs (default 100)', number('rollout-validation-prompts', { integer: true, min: 1, max: 500 }))
  .option('--rollout-steps <n>', 'evaluator-rollout training steps (default 1000)', number('rollout-steps', { integer: true, min: 1 }))
  .option('--rollout-lr <x>', 'evaluator-rollout learning rate (default 1e-4)', number('rollout-lr', { min: 1e-9, max: 0.5 }))
  .action(cancellable((opts, signal) => runPretrainWorld({
    outDir: opts.out, seed: opts.seed, scale: opts.scale, prediction: opts.prediction, world: opts.world, vaeSteps: opts.vaeSteps, diffusionSteps: opts.diffusionSteps,
    pairPrompts: opts.pairPrompts, clipSteps: opts.clipSteps, plainSteps: opts.plainSteps, noisySteps: opts.noisySteps,
    validationPrompts: opts.validationPrompts, samplesPerPrompt: opts.samplesPerPrompt, captionShare: opts.captionShare,
    samplingSteps: opts.samplingSteps, tieMargin: opts.tieMargin, plainLearningRate: opts.plainLr,
    noisyLearningRate: opts.noisyLr, rolloutPrompts: opts.rolloutPrompts,
    rolloutValidationPrompts: opts.rolloutValidationPrompts, rolloutSteps: opts.rolloutSteps,
    rolloutLearningRate: opts.rolloutLr,
  }, signal)));

const timeConditioning = (v: string) => {
  if (v !== 'plain' && v !== 'step-aware' && v !== 'step-agnostic') {
    throw new CliArgError("must be 'plain', 'step-aware' or 'step-agnostic'");
  }
  return v;
};

const evalCommand = program
  .command('eval')
  .description('score PNG images against prompts with a (step-aware) preference model directory')
  .requiredOption('--evaluator <dir>', 'CLIP / PickScore-layout directory (config.json, model.safetensors, vocab.json, merges.txt)')
  .option('--image <png>', 'an image (repeatable)', repeat)
  .option('--folder <dir>', 'every .png in this folder, in name order')
  .requiredOption('--prompt <text>', 'one prompt for all images, or one per image in order (repeatable)', repeat)
  .option('--timestep <t>', 'the diffusion timestep the images are judged at (0 = clean)', number('timestep', { integer: true, min: 0, max: 999 }), 0)
  .option('--time-conditioning <mode>', "override: 'plain', 'step-aware' or 'step-agnostic'", timeConditioning);
withDevice(evalCommand).option('--json', 'one JSON object per line', false).action(cancellable(runEval));

const trainEvaluator = program
  .command('train-evaluator')
  .description('train a step-aware preference model on preference pairs (docs/method.md §4)')
  .requiredOption('--evaluator <dir>', 'starting model (plain PickScore-layout or step-aware directory)')
  .requiredOption('--model <dir>', 'the frozen base pipeline whose x0 predictions are judged')
  .requiredOption('--pairs <jsonl>', 'training pairs: {"prompt", "image_0", "image_1", "label": 0 | 1 | "tie"} per line')
  .option('--validation <jsonl>', 'held-out pairs for the accuracy report')
  .requiredOption('--out <dir>', 'where the trained model is written')
  .option('--steps <n>', 'optimiser steps', number('steps', { integer: true, min: 1 }), 8000)
  .option('--batch-size <n>', 'pairs per step', number('batch-size', { integer: true, min: 1, max: 4096 }), 16)
  .option('--lr <x>', 'AdamW learning rate', number('lr', { min: 0 }), 3e-6)
  .option('--weight-decay <x>', 'AdamW weight decay', number('weight-decay', { min: 0 }), 0.3)
  .option('--warmup <n>', 'linear warm-up steps', number('warmup', { integer: true, min: 0 }), 500)
  .option('--max-grad-norm <x>', 'gradient-norm clipping (0 = off)', number('max-grad-norm', { min: 0 }), 1)
  .option('--guidance <w>', "guidance of the base model's x0 prediction", number('guidance', { min: 0, max: 100 }), 5)
  .option('--seed <n>', 'random seed', number('seed', { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER }), 42)
  .option('--validate-every <n>', 'validate every n steps (0 = at the end)', number('validate-every', { integer: true, min: 0 }), 0)
  .option('--checkpoint-dir <dir>', 'resumable checkpoints (resumed automatically when present)')
  .option('--checkpoint-every <n>', 'checkpoint every n steps (0 = at the end)', number('checkpoint-every', { integer: true, min: 0 }), 0)
  .option('--time-conditioning <mode>', "'step-aware' (default) or 'step-agnostic'", timeConditioning);
withDistributed(withDevice(trainEvaluator, "the base pipeline's 'fp32', 'fp16' or 'bf16'"),
  'data-parallel rank processes on this host (c10d: Gloo on CPU, NCCL on CUDA); --batch-size is per rank')
  .action(cancellable(runTrainEvaluator));

const train = program
  .command('train')
  .description('SPO fine-tuning: a LoRA on the pipeline\'s UNet, judged step by step by a preference model')
  .requiredOption('--model <dir>', 'diffusers pipeline directory (SD-1.5 or SDXL layout)')
  .requiredOption('--evaluator <dir>', 'step-aware preference model directory')
  .requiredOption('--prompts <file>', 'training prompts: one per line, or the authors\' JSON of {caption} records')
  .requiredOption('--out <dir>', 'output: pytorch_lora_weights.safetensors, events.jsonl, checkpoints/')
  .option('--preset <name>', "'sd15' or 'sdxl' (docs/method.md §6)", 'sd15')
  .option('--set <key=value>', 'override a setting, e.g. --set k=2 --set resampler=win (repeatable)', repeat, [])
  .option('--checkpoint-dir <dir>', 'round checkpoints (default <out>/checkpoints; resumed automatically)')
  .option('--log <file>', 'JSONL log of every event (default <out>/events.jsonl)')
  .option('--max-rounds <n>', 'stop after this many rounds in total', number('max-rounds', { integer: true, min: 1 }));
withDistributed(withDevice(train, "frozen weights: 'fp32', 'fp16' or 'bf16' (LoRA and optimizer stay fp32)"),
  'data-parallel rank processes on this host (c10d: Gloo on CPU, NCCL on CUDA)')
  .action(cancellable(runTrain));

const bench = program
  .command('bench')
  .description('the benchmark harness: ceiling, components, update (default vs parity), fused kernels, an SPO round, the Python baseline')
  .option('--workload <name>', "'midsize' (random weights near SD-1.5's shape) or 'shapes' (the shipped shapes-world models)", (v: string) => {
    if (v !== 'midsize' && v !== 'shapes') throw new CliArgError("must be 'midsize' or 'shapes'");
    return v;
  }, 'midsize')
  .option('--model <dir>', 'a pipeline directory (overrides --workload)')
  .option('--evaluator <dir>', 'a preference model directory (with --model)')
  .option('--prompts <n>', 'batch of prompts', number('prompts', { integer: true, min: 1, max: 64 }), 2)
  .option('--k <n>', 'candidates per step', number('k', { integer: true, min: 2, max: 16 }), 4)
  .option('--steps <n>', 'DDIM steps of the round', number('steps', { integer: true, min: 2, max: 50 }), 6)
  .option('--divert <n>', 'steps before the first branch', number('divert', { integer: true, min: 0, max: 49 }), 2)
  .option('--train-batch <n>', 'pairs in the timed update step', number('train-batch', { integer: true, min: 1, max: 64 }), 4)
  .option('--reps <n>', 'timed repetitions', number('reps', { integer: true, min: 1, max: 100 }), 3)
  .option('--warmup <n>', 'untimed warm-up calls', number('warmup', { integer: true, min: 0, max: 10 }), 1)
  .option('--sections <list>', 'comma-separated: ceiling,components,update,kernels,round')
  .option('--no-python-baseline', 'skip the diffusers + peft baseline')
  .option('--no-latent-round', 'skip the round scored by a latent evaluator (random weights) beside the pixel one')
  .option('--json <file>', 'write the report as JSON')
  .option('--compare <old.json>', 'print old/new ratios against an earlier --json report');
withDevice(bench).action(cancellable(runBench));

program
  .command('info')
  .description('print what the native engine was built with')
  .action(() => {
    process.stdout.write(`${JSON.stringify(buildInfo(), null, 2)}\n`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as Error;
  process.stderr.write(`spo: ${err instanceof SpoError ? `${err.message} (${err.code})` : err.stack ?? String(err)}\n`);
  process.exitCode = 1;
});

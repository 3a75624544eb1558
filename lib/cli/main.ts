#!/usr/bin/env node
// The `spo` command line.
import { Command, InvalidArgumentError as CliArgError } from 'commander';
import { runBench } from './bench';
import { runDemo } from './demo';
import { runEval } from './eval';
import { runSample } from './sample';
import { runTrain } from './train';
import { runTrainEvaluator } from './train-evaluator';
import { buildInfo } from '../runtime';
import { SpoError } from '../errors';

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

const program = new Command();
program.name('spo').description('Step-aware Preference Optimization for diffusion models');

program
  .command('demo')
  .description('run the built-in end-to-end example')
  .option('--steps <n>', 'DDIM steps', number('steps', { integer: true, min: 1, max: 1000 }), 50)
  .option('--eta <x>', 'DDIM eta (1 = stochastic, SPO default)', number('eta', { min: 0, max: 10 }), 1)
  .option('--batch <n>', 'samples in the batch', number('batch', { integer: true, min: 1, max: 4096 }), 16)
  .option('--size <n>', 'latent height and width', number('size', { integer: true, min: 1, max: 1024 }), 64)
  .option('--seed <n>', 'random seed', number('seed', { integer: true, min: 0 }), 42)
  .option('--mean <x>', 'target mean', number('mean'), 0.5)
  .option('--std <x>', 'target standard deviation', number('std', { min: 1e-6 }), 0.3)
  .option('--json', 'print a JSON summary only', false)
  .action(async (opts) => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await runDemo(opts, controller.signal);
  });

program
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
  .option('--height <px>', 'image height (multiple of 8)', number('height', { integer: true, min: 8, max: 16384 }))
  .option('--device <d>', "'cpu' or 'cuda'", 'cpu')
  .option('--dtype <t>', "'fp32', 'fp16' or 'bf16'", 'fp32')
  .action(async (opts) => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await runSample(opts, controller.signal);
  });

const repeat = (v: string, all: string[] = []) => [...all, v];
const timeConditioning = (v: string) => {
  if (v !== 'plain' && v !== 'step-aware' && v !== 'step-agnostic') {
    throw new CliArgError("must be 'plain', 'step-aware' or 'step-agnostic'");
  }
  return v;
};

program
  .command('eval')
  .description('score PNG images against prompts with a (step-aware) preference model directory')
  .requiredOption('--evaluator <dir>', 'CLIP / PickScore-layout directory (config.json, model.safetensors, vocab.json, merges.txt)')
  .option('--image <png>', 'an image (repeatable)', repeat)
  .option('--folder <dir>', 'every .png in this folder, in name order')
  .requiredOption('--prompt <text>', 'one prompt for all images, or one per image in order (repeatable)', repeat)
  .option('--timestep <t>', 'the diffusion timestep the images are judged at (0 = clean)', number('timestep', { integer: true, min: 0, max: 999 }), 0)
  .option('--time-conditioning <mode>', "override: 'plain', 'step-aware' or 'step-agnostic'", timeConditioning)
  .option('--device <d>', "'cpu' or 'cuda'", 'cpu')
  .option('--dtype <t>', "'fp32', 'fp16' or 'bf16'", 'fp32')
  .option('--json', 'one JSON object per line', false)
  .action(async (opts) => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await runEval(opts, controller.signal);
  });

program
  .command('train-evaluator')
  .description('train a step-aware preference model on preference pairs (SPEC.md section 4)')
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
  .option('--time-conditioning <mode>', "'step-aware' (default) or 'step-agnostic'", timeConditioning)
  .option('--device <d>', "'cpu' or 'cuda'", 'cpu')
  .option('--dtype <t>', "the base pipeline's 'fp32', 'fp16' or 'bf16'", 'fp32')
  .action(async (opts) => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await runTrainEvaluator(opts, controller.signal);
  });

program
  .command('train')
  .description('SPO fine-tuning: a LoRA on the pipeline\'s UNet, judged step by step by a preference model')
  .requiredOption('--model <dir>', 'diffusers pipeline directory (SD-1.5 or SDXL layout)')
  .requiredOption('--evaluator <dir>', 'step-aware preference model directory')
  .requiredOption('--prompts <file>', 'training prompts: one per line, or the authors\' JSON of {caption} records')
  .requiredOption('--out <dir>', 'output: pytorch_lora_weights.safetensors, events.jsonl, checkpoints/')
  .option('--preset <name>', "'sd15' or 'sdxl' (SPEC.md section 6)", 'sd15')
  .option('--set <key=value>', 'override a setting, e.g. --set k=2 --set resampler=win (repeatable)', repeat, [])
  .option('--checkpoint-dir <dir>', 'round checkpoints (default <out>/checkpoints; resumed automatically)')
  .option('--log <file>', 'JSONL log of every event (default <out>/events.jsonl)')
  .option('--max-rounds <n>', 'stop after this many rounds in total', number('max-rounds', { integer: true, min: 1 }))
  .option('--device <d>', "'cpu' or 'cuda'", 'cpu')
  .option('--dtype <t>', "frozen weights: 'fp32', 'fp16' or 'bf16' (LoRA and optimizer stay fp32)", 'fp32')
  .action(async (opts) => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await runTrain(opts, controller.signal);
  });

program
  .command('bench')
  .description('the benchmark harness: ceiling, components, update (default vs parity), fused kernels, an SPO round, the Python baseline')
  .option('--model <dir>', 'a pipeline directory (default: the mid-sized random-weight configuration)')
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
  .option('--json <file>', 'write the report as JSON')
  .option('--compare <old.json>', 'print old/new ratios against an earlier --json report')
  .option('--device <d>', "'cpu' or 'cuda'", 'cpu')
  .option('--dtype <t>', "'fp32', 'fp16' or 'bf16'", 'fp32')
  .action(async (opts) => {
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.exitCode = await runBench(opts, controller.signal);
  });

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

#!/usr/bin/env node
// The `spo` command line.
import { Command, InvalidArgumentError as CliArgError } from 'commander';
import { runDemo } from './demo';
import { runSample } from './sample';
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

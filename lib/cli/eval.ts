// `spo eval`: scores PNG images (files or a folder) against prompts with a
// preference model directory, printing one line per image (or JSON lines).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { InvalidArgumentError } from '../runtime/errors';
import { Evaluator, type TimeConditioning } from '../models/evaluator';
import { Image } from '../runtime/image';
import type { Device, DType } from '../runtime/device';

export interface EvalOptions {
  evaluator: string;
  image?: string[];
  folder?: string;
  prompt: string[];
  timestep: number;
  timeConditioning?: TimeConditioning;
  device: Device;
  dtype: DType;
  json: boolean;
}

async function imageFiles(opts: EvalOptions): Promise<string[]> {
  const files = [...(opts.image ?? [])];
  if (opts.folder !== undefined) {
    if (!(await stat(opts.folder).catch(() => undefined))?.isDirectory()) {
      throw new InvalidArgumentError(`--folder ${opts.folder} is not a directory`);
    }
    const names = (await readdir(opts.folder)).filter((n) => n.toLowerCase().endsWith('.png')).sort();
    files.push(...names.map((n) => path.join(opts.folder!, n)));
  }
  if (files.length === 0) throw new InvalidArgumentError('no images: give --image <png> (repeatable) or --folder <dir>');
  return files;
}

export async function runEval(opts: EvalOptions, signal?: AbortSignal): Promise<number> {
  const files = await imageFiles(opts);
  if (opts.prompt.length !== 1 && opts.prompt.length !== files.length) {
    throw new InvalidArgumentError(`give one --prompt for all images or one per image (${files.length}), got ${opts.prompt.length}`);
  }
  const promptOf = (i: number) => opts.prompt[opts.prompt.length === 1 ? 0 : i]!;
  const evaluator = await Evaluator.load(opts.evaluator, {
    device: opts.device, dtype: opts.dtype, timeConditioning: opts.timeConditioning, signal,
  });
  const bar = new SingleBar({ format: 'scoring [{bar}] {value}/{total} images', stream: process.stderr, noTTYOutput: true,
    notTTYSchedule: 1000, hideCursor: false });
  try {
    bar.start(files.length, 0);
    const scores: number[] = new Array(files.length);
    // Images of one size go through the model together.
    const groups = new Map<string, { index: number; image: Image }[]>();
    for (const [index, file] of files.entries()) {
      const image = await Image.load(file);
      const key = `${image.width}x${image.height}`;
      groups.set(key, [...(groups.get(key) ?? []), { index, image }]);
    }
    let done = 0;
    for (const group of groups.values()) {
      const s = await evaluator.score({
        images: group.map((g) => g.image), prompts: group.map((g) => promptOf(g.index)), timesteps: opts.timestep,
      }, { signal });
      group.forEach((g, i) => { scores[g.index] = s[i]!; });
      bar.update((done += group.length));
    }
    bar.stop();
    for (const [i, file] of files.entries()) {
      const line = opts.json ? JSON.stringify({ file, prompt: promptOf(i), timestep: opts.timestep, score: scores[i] })
        : `${scores[i]!.toFixed(4)}\t${file}\t${promptOf(i)}`;
      process.stdout.write(`${line}\n`);
    }
    return 0;
  } finally {
    bar.stop();
    evaluator.dispose();
  }
}

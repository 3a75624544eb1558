// `spo sample`: images from a diffusers pipeline directory, one PNG per
// prompt, with a progress bar on stderr.
import path from 'node:path';
import { SingleBar } from 'cli-progress';
import { Pipeline, Sampler } from '../models/pipeline';
import type { Device, DType } from '../runtime/device';

export interface SampleOptions {
  model: string;
  prompt: string[];
  out: string;
  negativePrompt?: string;
  steps: number;
  guidance: number;
  eta: number;
  seed: number;
  width?: number;
  height?: number;
  device: Device;
  dtype: DType;
}

/** "a red cat!" -> "a-red-cat", for file names. */
function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'image';
}

export async function runSample(opts: SampleOptions, signal?: AbortSignal): Promise<number> {
  const pipeline = await Pipeline.load(opts.model, { device: opts.device, dtype: opts.dtype, signal });
  try {
    const bar = new SingleBar({
      format: 'sampling [{bar}] {value}/{total} steps',
      stream: process.stderr,
      noTTYOutput: true,
      notTTYSchedule: 1000,
      hideCursor: false,
    });
    bar.start(opts.steps, 0);
    let images;
    try {
      images = await new Sampler(pipeline).generate(
        {
          prompts: opts.prompt, negativePrompt: opts.negativePrompt, steps: opts.steps, guidanceScale: opts.guidance,
          eta: opts.eta, seed: opts.seed, width: opts.width, height: opts.height,
        },
        { signal, onProgress: (p) => { if (p.stage === 'denoise') bar.update(p.step); } },
      );
    } finally {
      bar.stop();
    }
    for (const [i, image] of images.entries()) {
      const file = path.join(opts.out, `${String(i).padStart(3, '0')}-${slug(opts.prompt[i]!)}.png`);
      await image.savePNG(file);
      process.stdout.write(`${file}\n`);
    }
    return 0;
  } finally {
    pipeline.dispose();
  }
}

// Measuring a pipeline on the shapes world: sample the same prompts with the
// same seeds, judge every image, and summarise with 95% intervals. Shared by
// `spo demo` and `spo experiment`.
import { Image, imagesToTensor } from './image';
import type { JobOptions } from './jobs';
import { Sampler, type Pipeline } from './pipeline';
import { judgeWorld, type JudgeScore } from './world';

export interface JudgedSet {
  prompts: string[];
  images: Image[];
  scores: JudgeScore[];
}

export interface SampleSettings {
  seed: number;
  steps?: number;
  guidanceScale?: number;
  eta?: number;
  /** Prompts per generate call. */
  batch?: number;
}

/** One image per prompt; batch b of the prompts uses seed + b, so a run is repeatable. */
export async function sampleAndJudge(pipeline: Pipeline, prompts: string[], s: SampleSettings,
  options?: JobOptions): Promise<JudgedSet> {
  const batch = s.batch ?? 100;
  const images: Image[] = [];
  const scores: JudgeScore[] = [];
  const sampler = new Sampler(pipeline);
  for (let start = 0; start < prompts.length; start += batch) {
    const part = prompts.slice(start, start + batch);
    const generated = await sampler.generate({
      prompts: part, seed: s.seed + start / batch, steps: s.steps ?? 20, guidanceScale: s.guidanceScale ?? 5, eta: s.eta ?? 1,
    }, { signal: options?.signal });
    images.push(...generated);
    scores.push(...judgeWorld(imagesToTensor(generated), part));
    options?.onProgress?.({ stage: 'judge', step: Math.min(prompts.length, start + batch), total: prompts.length, value: 0 });
  }
  return { prompts, images, scores };
}

export interface Interval {
  mean: number;
  /** Half-width of the 95% interval (normal approximation, 1.96 standard errors). */
  half: number;
  n: number;
}

export function interval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) return { mean: NaN, half: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, half: 1.96 * Math.sqrt(variance / n), n };
}

export type JudgePart = 'total' | 'alignment' | 'quality' | 'colour' | 'shape' | 'count' | 'place';

export function partInterval(scores: readonly JudgeScore[], part: JudgePart): Interval {
  return interval(scores.map((s) => s[part]));
}

/** The interval of after - before over the same prompts and seeds (paired). */
export function pairedDifference(before: readonly JudgeScore[], after: readonly JudgeScore[], part: JudgePart): Interval {
  return interval(after.map((s, i) => s[part] - before[i]![part]));
}

export function formatInterval(i: Interval, digits = 3): string {
  return `${i.mean.toFixed(digits)} ± ${i.half.toFixed(digits)}`;
}

/**
 * Columns of images side by side, one row per index, each image scaled by
 * `zoom` (nearest neighbour: 32 px images are tiny), with `gap` white pixels between.
 */
export function imageGrid(columns: readonly (readonly Image[])[], zoom = 4, gap = 4): Image {
  const rows = Math.min(...columns.map((c) => c.length));
  const cell = columns[0]![0]!.width * zoom;
  const width = columns.length * cell + (columns.length + 1) * gap;
  const height = rows * cell + (rows + 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(255);
  columns.forEach((column, c) => {
    for (let r = 0; r < rows; ++r) {
      const img = column[r]!;
      const x0 = gap + c * (cell + gap), y0 = gap + r * (cell + gap);
      for (let y = 0; y < img.height * zoom; ++y) {
        for (let x = 0; x < img.width * zoom; ++x) {
          const src = (Math.floor(y / zoom) * img.width + Math.floor(x / zoom)) * 3;
          const dst = ((y0 + y) * width + x0 + x) * 3;
          data[dst] = img.data[src]!;
          data[dst + 1] = img.data[src + 1]!;
          data[dst + 2] = img.data[src + 2]!;
        }
      }
    }
  });
  return new Image(width, height, data);
}

// Measuring a pipeline on the shapes world: sample the same prompts with the
// same seeds, judge every image by the track's judge, and summarise with 95%
// intervals. Shared by `spo demo` and `spo experiment`.
import { jStat } from 'jstat';
import { Image, imagesToTensor } from '../runtime/image';
import type { Tensor } from '../runtime/tensor';
import type { JobOptions } from '../runtime/jobs';
import { Sampler, type Pipeline } from '../models/pipeline';
import {
  type JudgePartOf, type JudgeScore, type RelationsJudgeScore, type ScenesJudgeScore, type ScorePart,
  type WorldJudgeScore, type WorldTrack,
} from './tracks';
import { judgeWorld } from './world';

export interface JudgedSet<T extends WorldTrack = 'relations'> {
  prompts: string[];
  images: Image[];
  scores: WorldJudgeScore<T>[];
  /**
   * How each image was made: image i is image i - batchStart of
   * generate({ prompts: prompts[batchStart .. batchStart + batchSize), seed }).
   */
  origins: { seed: number; batchStart: number; batchSize: number }[];
}

export interface SampleSettings<T extends WorldTrack = 'relations'> {
  seed: number;
  steps?: number;
  guidanceScale?: number;
  eta?: number;
  /** Prompts per generate call. */
  batch?: number;
  /** Whose judge scores the images (default 'relations'). */
  track?: T;
}

/** One image per prompt; batch b of the prompts uses seed + b, so a run is repeatable. */
export async function sampleAndJudge<T extends WorldTrack = 'relations'>(pipeline: Pipeline, prompts: string[],
  s: SampleSettings<T>, options?: JobOptions): Promise<JudgedSet<T>> {
  const batch = s.batch ?? 100;
  const track = (s.track ?? 'relations') as T;
  const images: Image[] = [];
  const scores: WorldJudgeScore<T>[] = [];
  const origins: JudgedSet<T>['origins'] = [];
  const sampler = new Sampler(pipeline);
  for (let start = 0; start < prompts.length; start += batch) {
    const part = prompts.slice(start, start + batch);
    const seed = s.seed + start / batch;
    const generated = await sampler.generate({
      prompts: part, seed, steps: s.steps ?? 20, guidanceScale: s.guidanceScale ?? 5, eta: s.eta ?? 1,
    }, { signal: options?.signal });
    images.push(...generated);
    scores.push(...judgeWorld(imagesToTensor(generated), part, track));
    for (let i = 0; i < part.length; ++i) origins.push({ seed, batchStart: start, batchSize: part.length });
    options?.onProgress?.({ stage: 'judge', step: Math.min(prompts.length, start + batch), total: prompts.length, value: 0 });
  }
  return { prompts, images, scores, origins };
}

export interface Interval {
  mean: number;
  /** Half-width of the 95% interval: Student's t quantile for n - 1 degrees of freedom times the standard error. */
  half: number;
  n: number;
}

/**
 * The two-sided 95% quantile of Student's t with `dof` degrees of freedom:
 * 1.96 for hundreds of values, but 4.30 for three (a normal quantile there
 * would make an interval over three seeds half as wide as it should be).
 */
export function t95(dof: number): number {
  return jStat.studentt.inv(0.975, dof);
}

/** The mean and its 95% interval (0 wide for one value: no spread to measure). */
export function interval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) return { mean: NaN, half: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, half: 0, n };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, half: t95(n - 1) * Math.sqrt(variance / n), n };
}

/** A part of a track's judge score (default: the relation judge's). */
export type JudgePart<T extends WorldTrack = 'relations'> = JudgePartOf<T>;

type AnyJudgeScore = RelationsJudgeScore | ScenesJudgeScore;
const partOf = <S extends AnyJudgeScore>(s: S, part: ScorePart<S>): number => s[part] as number;

export function partInterval<S extends AnyJudgeScore = JudgeScore>(scores: readonly S[], part: ScorePart<S>): Interval {
  return interval(scores.map((s) => partOf(s, part)));
}

/** The interval of after - before over the same prompts and seeds (paired). */
export function pairedDifference<S extends AnyJudgeScore = JudgeScore>(before: readonly S[], after: readonly S[],
  part: ScorePart<S>): Interval {
  return interval(after.map((s, i) => partOf(s, part) - partOf(before[i]!, part)));
}

export function formatInterval(i: Interval, digits = 3): string {
  return `${i.mean.toFixed(digits)} ± ${i.half.toFixed(digits)}`;
}

/** formatInterval with the mean's sign always shown: +0.009 ± 0.003. */
export function formatSignedInterval(i: Interval, digits = 3): string {
  return `${i.mean >= 0 ? '+' : ''}${formatInterval(i, digits)}`;
}

/** The four relations and what each becomes reversed and on the other axis (the grammar's exact words). */
const relations = {
  ' above ': { reversed: ' below ', otherAxis: [' to the left of ', ' to the right of '] },
  ' below ': { reversed: ' above ', otherAxis: [' to the left of ', ' to the right of '] },
  ' to the left of ': { reversed: ' to the right of ', otherAxis: [' above ', ' below '] },
  ' to the right of ': { reversed: ' to the left of ', otherAxis: [' above ', ' below '] },
} as const;
type RelationWord = keyof typeof relations;
const relationOf = (prompt: string) => (Object.keys(relations) as RelationWord[]).find((w) => prompt.includes(w));
const POSITION = / (on the left|on the right|at the top|at the bottom|in the centre)$/;

/** A grammar prompt's form: two objects in a relation, one object with a position, or one object alone. */
export type WorldPromptForm = 'relation' | 'position' | 'no-position';

export function worldPromptForm(prompt: string): WorldPromptForm {
  if (relationOf(prompt) !== undefined) return 'relation';
  return POSITION.test(prompt) ? 'position' : 'no-position';
}

/**
 * How a set of images follows its prompts' spatial words, read by the judge's
 * placement part. Relation prompts ("X above Y"): `followed` when the relation
 * holds; `reversed` when the opposite one holds ("X below Y"); `otherAxis` when a
 * relation on the other axis holds ("X left of Y"); `neither` when none can be
 * read (an object missing, or the two on top of each other). A model that
 * ignores relation words lands near 25 / 25 / 50 %. Only relation prompts whose
 * two objects differ in colour count: with one colour the judge may match the
 * blobs either way round, so a reversed layout could read as followed.
 * Position prompts ("X on the left"): `followed` or not. The relations track only.
 */
export interface SpatialBreakdown {
  relation: { prompts: number; followed: number; reversed: number; otherAxis: number; neither: number };
  position: { prompts: number; followed: number };
}

export function spatialBreakdown(images: Tensor, prompts: readonly string[]): SpatialBreakdown {
  const out: SpatialBreakdown = {
    relation: { prompts: 0, followed: 0, reversed: 0, otherAxis: 0, neither: 0 },
    position: { prompts: 0, followed: 0 },
  };
  const holds = (score: JudgeScore | undefined) => score !== undefined && score.place >= 1;
  const words = prompts.map(relationOf);
  const stated = judgeWorld(images, [...prompts]);
  // The same images judged against each prompt restated with another relation (one judge call per variant).
  const variant = (pick: (w: (typeof relations)[RelationWord]) => string) =>
    judgeWorld(images, prompts.map((p, i) => (words[i] ? p.replace(words[i]!, pick(relations[words[i]!])) : p)));
  const reversed = variant((w) => w.reversed), other0 = variant((w) => w.otherAxis[0]), other1 = variant((w) => w.otherAxis[1]);
  const colours = (p: string) => p.match(/\b(red|green|blue|yellow|purple|orange|cyan|pink)\b/g) ?? [];
  prompts.forEach((p, i) => {
    if (words[i]) {
      const [first, second] = colours(p);
      if (first === second) return;
      out.relation.prompts++;
      if (holds(stated[i])) out.relation.followed++;
      else if (holds(reversed[i])) out.relation.reversed++;
      else if (holds(other0[i]) || holds(other1[i])) out.relation.otherAxis++;
      else out.relation.neither++;
    } else if (worldPromptForm(p) === 'position') {
      out.position.prompts++;
      if (holds(stated[i])) out.position.followed++;
    }
  });
  return out;
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

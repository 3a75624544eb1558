// Check 2, room for preference: do the base model's samples of one prompt
// differ enough for a preference to act? Four samples per prompt (independent
// x_T), judged by judge v2. Criteria (docs/SHAPES_WORLD.md, "Suitability
// checks"): the within-prompt sd of the coarse and of the fine part >= 0.05
// each; best and worst total differ by more than the tie margin on >= half of
// the prompts.
import path from 'node:path';
import { Pipeline } from '../../models/pipeline';
import { sampleAndJudge, type JudgedSet } from '../evaluation';
import { JUDGE_TIE_MARGIN } from '../world';
import type { CheckedPart, PartScores } from './parts';
import { atLeast, reported, type CheckResult, type Figure } from './report';
import { mean, pooledWithinSd, shareSpreadBeyond } from './stats';

/** The figures from judge scores per prompt: perPrompt[p][s] is sample s of prompt p. */
export function roomFigures(perPrompt: readonly (readonly PartScores[])[], tieMargin: number): Figure[] {
  const part = (name: CheckedPart) => perPrompt.map((samples) => samples.map((s) => s[name]));
  return [
    atLeast('within-prompt sd of coarse', pooledWithinSd(part('coarse')), 0.05),
    atLeast('within-prompt sd of fine', pooledWithinSd(part('fine')), 0.05),
    atLeast(`share of prompts, best - worst total > ${tieMargin}`, shareSpreadBeyond(part('total'), tieMargin), 0.5),
    reported('within-prompt sd of alignment', pooledWithinSd(part('alignment'))),
    reported('within-prompt sd of total', pooledWithinSd(part('total'))),
    reported('mean total of the samples', mean(perPrompt.flat().map((s) => s.total))),
  ];
}

export interface RoomCheckOptions {
  /** A models folder of `spo pretrain-world --world scenes`. */
  assets: string;
  prompts: string[];
  samples?: number;
  seed?: number;
  steps: number;
  guidanceScale: number;
}

export async function checkRoom({ assets, prompts, samples = 4, seed = 2000, steps, guidanceScale }: RoomCheckOptions): Promise<CheckResult> {
  const started = performance.now();
  const pipeline = await Pipeline.load(path.join(assets, 'base'));
  const sets: JudgedSet<'scenes'>[] = [];
  try {
    for (let s = 0; s < samples; ++s) {
      // Sample s draws batch b with seed + 1000 s + b (sampleAndJudge): every sample its own x_T.
      sets.push(await sampleAndJudge(pipeline, prompts, {
        seed: seed + 1000 * s, steps, guidanceScale, eta: 1, track: 'scenes', batch: 50,
      }));
    }
  } finally {
    pipeline.dispose();
  }
  const perPrompt = prompts.map((_, p) => sets.map((set) => set.scores[p]!));
  return {
    check: 2, title: `room for preference: ${samples} base samples x ${prompts.length} prompts`,
    figures: roomFigures(perPrompt, JUDGE_TIE_MARGIN), notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

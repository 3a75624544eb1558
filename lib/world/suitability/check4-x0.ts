// Check 4, does judge v2 reading a candidate's x0 prediction agree with where
// the candidate ends? At SPO's branch steps of one base trajectory per prompt,
// k candidates from the shared x_t (eta 1); each candidate's decoded x0
// prediction at its own timestep is judged, and so is the image it ends in when
// continued by deterministic DDIM (the rollout oracle's outcome). Agreement on
// the pairs the outcome decides (|difference| > the tie margin), per band of
// the candidates' timestep and per part. Criterion (docs/SHAPES_WORLD.md):
// >= 0.65 for t < 300, per part where the part decides.
import { JUDGE_TIE_MARGIN } from '../world';
import { PARTS, type PartScores } from './parts';
import { atLeast, reported, type CheckResult, type Figure } from './report';
import { agreement, band, type TimestepBand } from './stats';
import { advance, branchAndRollOut, judge, startStates, type BaseModel } from './trajectories';

export const BANDS: readonly TimestepBand[] = ['1-299', '300-599', '600-999', 'final'];
/** Fewer decided pairs than this in a band leave its figure unread. */
export const MIN_PAIRS = 20;

/** k candidates of one prompt at one branch step: what the judge reads of each x0, and of each outcome. */
export interface X0Group {
  /** The candidates' timestep (< 1 when clean). */
  t: number;
  x0: readonly PartScores[];
  final: readonly PartScores[];
}

/** The figures from judged groups, per band of t and per part. */
export function x0Figures(groups: readonly X0Group[], tieMargin: number, minPairs = MIN_PAIRS): Figure[] {
  const figures: Figure[] = [];
  for (const b of BANDS) {
    const inBand = groups.filter((g) => band(g.t) === b);
    if (b === 'final' && inBand.length === 0) continue;  // only a branch at the last step has clean candidates
    for (const part of PARTS) {
      const a = agreement(inBand.map((g) => ({ reading: g.x0.map((s) => s[part]), outcome: g.final.map((s) => s[part]) })),
        tieMargin);
      const name = `agreement at t ${b}, ${part} (${a.pairs} decided pairs)`;
      if (b === '1-299' && a.pairs >= minPairs) figures.push(atLeast(name, a.agreement, 0.65));
      else if (b === '1-299') figures.push(reported(name, a.agreement, `unread: < ${minPairs} decided pairs`));
      else figures.push(reported(name, a.agreement));
    }
  }
  return figures;
}

export interface X0CheckOptions {
  model: BaseModel;
  prompts: string[];
  k?: number;
  branchSteps?: number[];
  seed?: number;
}

export async function checkX0({ model, prompts, k = 4, branchSteps = [4, 6, 8, 10, 12, 14, 15, 16, 17, 18], seed = 4000 }:
  X0CheckOptions): Promise<CheckResult> {
  const started = performance.now();
  const repeated = prompts.flatMap((p) => Array<string>(k).fill(p));
  const groups: X0Group[] = [];
  let state = await startStates(model, prompts, seed);
  for (const i of [...branchSteps].sort((a, b) => a - b)) {
    if (i >= model.steps) throw new Error(`check 4: branch step ${i} is past the ${model.steps}-step schedule`);
    if (i > state.index) state = await advance(model, state, i, seed + 1 + i);
    const r = await branchAndRollOut(model, state, k, seed + 100 + i);
    const x0 = judge(r.x0Images, repeated), final = judge(r.finalImages, repeated);
    prompts.forEach((_, p) => groups.push({
      t: r.candidateT, x0: x0.slice(p * k, (p + 1) * k), final: final.slice(p * k, (p + 1) * k),
    }));
  }
  const ts = [...new Set(groups.map((g) => g.t))];
  const byT = ts.map((t) => {
    const a = agreement(groups.filter((g) => g.t === t).map((g) => ({ reading: g.x0.map((s) => s.total), outcome: g.final.map((s) => s.total) })),
      JUDGE_TIE_MARGIN);
    return `${t}: ${a.agreement.toFixed(2)} (${a.pairs})`;
  });
  return {
    check: 4, title: `judge on x0 vs final outcome: ${prompts.length} prompts, k = ${k}, candidates at t = ${ts.join(', ')}`,
    figures: x0Figures(groups, JUDGE_TIE_MARGIN),
    notes: ['t: the candidates\' timestep (final: clean candidates, x0 = outcome)', `total by t (decided pairs): ${byT.join(', ')}`],
    seconds: (performance.now() - started) / 1000,
  };
}

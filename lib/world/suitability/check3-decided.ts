// Check 3, when each part is decided. For each prompt, `roots` independent
// base trajectories; at each checkpoint t the trajectory's x_t is shared by
// `branches` continuations to the end (the model's own sampling, eta 1), and
// the root itself is continued once more to the end (an independent sample per
// root). The share of a part's variance still open at t is
// E[Var(part | x_t)] / Var(part | prompt) (stats.shareOpen). Criteria
// (docs/SHAPES_WORLD.md): at t = 501 the coarse part's share is smaller than
// the fine part's, and at t = 251 the fine part keeps >= 1/3 of its variance.
import { JUDGE_PARTS, type ScenesJudgeScore } from '../tracks';
import { type CheckedPart } from './parts';
import { atLeast, lessThan, reported, type CheckResult, type Figure } from './report';
import { shareOpen } from './stats';
import { advance, branchToEnd, judge, startStates, type BaseModel } from './trajectories';

/** Judge v2's parts and sub-scores, in the engine's order (total first). */
type ScenesPart = (typeof JUDGE_PARTS.scenes)[number];

/** Per part, a list of groups of values: the four checked parts, and any sub-score (reported only). */
export type PartGroups = Record<CheckedPart, number[][]> & Partial<Record<ScenesPart, number[][]>>;

/**
 * The figures from judged values: branched[t][part] lists, per shared x_t,
 * the part's values of its branches; independent[part] lists, per prompt, the
 * part's values of independent samples. branched must hold t = 501 and 251.
 */
export function decidedFigures(branched: Record<number, PartGroups>, independent: PartGroups): Figure[] {
  const open = (t: number, part: ScenesPart) => {
    const at = branched[t]?.[part], all = independent[part];
    if (!at || !all) throw new Error(`check 3: no branches of ${part} at t = ${t}`);
    return shareOpen(at, all);
  };
  const figures = [
    lessThan('share of coarse variance open at t = 501', open(501, 'coarse'), open(501, 'fine'), 'fine\'s'),
    atLeast('share of fine variance open at t = 251', open(251, 'fine'), 1 / 3),
  ];
  // Every part and sub-score read, at every t (no criterion): which readings
  // settle early and which late is what a change to the world acts on.
  const parts = JUDGE_PARTS.scenes.filter((part) => independent[part] !== undefined);
  for (const t of Object.keys(branched).map(Number).sort((a, b) => b - a)) {
    for (const part of parts) figures.push(reported(`share of ${part} variance open at t = ${t}`, open(t, part)));
  }
  return figures;
}

export interface DecidedCheckOptions {
  model: BaseModel;
  prompts: string[];
  roots?: number;
  branches?: number;
  checkpoints?: number[];
  seed?: number;
}

const emptyGroups = (): PartGroups =>
  Object.fromEntries(JUDGE_PARTS.scenes.map((part) => [part, []])) as unknown as PartGroups;
const groupsOf = (rows: readonly (readonly ScenesJudgeScore[])[]): PartGroups =>
  Object.fromEntries(JUDGE_PARTS.scenes.map((part) => [part, rows.map((r) => r.map((s) => s[part]))])) as unknown as PartGroups;

export async function checkDecided({ model, prompts, roots = 4, branches = 4, checkpoints = [751, 501, 251, 101], seed = 3000 }:
  DecidedCheckOptions): Promise<CheckResult> {
  const started = performance.now();
  for (const t of [501, 251]) if (!checkpoints.includes(t)) throw new Error(`check 3 needs t = ${t} among its checkpoints`);
  const indices = checkpoints.map((t) => {
    const i = model.timesteps.indexOf(t);
    if (i < 0) throw new Error(`check 3: t = ${t} is not a timestep of the ${model.steps}-step schedule`);
    return i;
  }).sort((a, b) => a - b);
  const repeated = prompts.flatMap((p) => Array<string>(branches).fill(p));
  const branched: Record<number, PartGroups> = Object.fromEntries(checkpoints.map((t) => [t, emptyGroups()]));
  const finals: ScenesJudgeScore[][] = prompts.map(() => []);
  for (let r = 0; r < roots; ++r) {
    const rootSeed = seed + 1000 * r;
    let state = await startStates(model, prompts, rootSeed);
    for (const i of indices) {
      if (i > state.index) state = await advance(model, state, i, rootSeed + 1 + i);
      const scores = judge(await branchToEnd(model, state, branches, rootSeed + 100 + i), repeated);
      const at = branched[model.timesteps[i]!]!;
      prompts.forEach((_, p) => {
        const own = scores.slice(p * branches, (p + 1) * branches);
        for (const q of JUDGE_PARTS.scenes) at[q]!.push(own.map((s) => s[q]));
      });
    }
    const own = judge(await branchToEnd(model, state, 1, rootSeed + 999), prompts);
    own.forEach((s, p) => finals[p]!.push(s));
  }
  return {
    check: 3,
    title: `when each part is decided: ${prompts.length} prompts x ${roots} trajectories, ${branches} branches at t = ${checkpoints.join(', ')}`,
    figures: decidedFigures(branched, groupsOf(finals)), notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

// Check 3, when each part is decided. For each prompt, `roots` independent
// base trajectories; at each checkpoint t the trajectory's x_t is shared by
// `branches` continuations to the end (the model's own sampling, eta 1), and
// the root itself is continued once more to the end (an independent sample per
// root). The share of a part's variance still open at t is
// E[Var(part | x_t)] / Var(part | prompt) (stats.shareOpen). Criteria
// (docs/SHAPES_WORLD.md): at t = 501 the coarse part's share is smaller than
// the fine part's, and at t = 251 the fine part keeps >= 1/3 of its variance.
import { atLeast, lessThan, reported } from './report.mjs';
import { shareOpen } from './stats.mjs';
import { advance, branchToEnd, judge, startStates } from './trajectories.mjs';

export const PARTS = ['total', 'alignment', 'coarse', 'fine'];

/**
 * The figures from judged values: branched[t][part] lists, per shared x_t,
 * the part's values of its branches; independent[part] lists, per prompt, the
 * part's values of independent samples.
 */
export function decidedFigures(branched, independent) {
  const open = (t, part) => shareOpen(branched[t][part], independent[part]);
  const figures = [
    lessThan('share of coarse variance open at t = 501', open(501, 'coarse'), open(501, 'fine'), 'fine\'s'),
    atLeast('share of fine variance open at t = 251', open(251, 'fine'), 1 / 3),
  ];
  for (const t of Object.keys(branched).map(Number).sort((a, b) => b - a)) {
    for (const part of PARTS) figures.push(reported(`share of ${part} variance open at t = ${t}`, open(t, part)));
  }
  return figures;
}

export async function checkDecided({ model, prompts, roots = 2, branches = 4, checkpoints = [751, 501, 251, 101], seed = 3000 }) {
  const started = performance.now();
  for (const t of [501, 251]) if (!checkpoints.includes(t)) throw new Error(`check 3 needs t = ${t} among its checkpoints`);
  const indices = checkpoints.map((t) => {
    const i = model.timesteps.indexOf(t);
    if (i < 0) throw new Error(`check 3: t = ${t} is not a timestep of the ${model.steps}-step schedule`);
    return i;
  }).sort((a, b) => a - b);
  const repeated = prompts.flatMap((p) => Array(branches).fill(p));
  const branched = Object.fromEntries(checkpoints.map((t) => [t, Object.fromEntries(PARTS.map((q) => [q, []]))]));
  const finals = prompts.map(() => []);
  for (let r = 0; r < roots; ++r) {
    const rootSeed = seed + 1000 * r;
    let state = await startStates(model, prompts, rootSeed);
    for (const i of indices) {
      if (i > state.index) state = await advance(model, state, i, rootSeed + 1 + i);
      const scores = judge(await branchToEnd(model, state, branches, rootSeed + 100 + i), repeated);
      const t = model.timesteps[i];
      prompts.forEach((_, p) => {
        const own = scores.slice(p * branches, (p + 1) * branches);
        for (const q of PARTS) branched[t][q].push(own.map((s) => s[q]));
      });
    }
    const own = judge(await branchToEnd(model, state, 1, rootSeed + 999), prompts);
    own.forEach((s, p) => finals[p].push(s));
  }
  const independent = Object.fromEntries(PARTS.map((q) => [q, finals.map((f) => f.map((s) => s[q]))]));
  return {
    check: 3,
    title: `when each part is decided: ${prompts.length} prompts x ${roots} trajectories, ${branches} branches at t = ${checkpoints.join(', ')}`,
    figures: decidedFigures(branched, independent), notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

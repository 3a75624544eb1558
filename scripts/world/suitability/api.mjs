// The package's public API as the checks use it: the engine (spo-diffusion,
// dist/index.js) and the shapes world (spo-diffusion/world, dist/world/index.js),
// whose sampling-and-judging helpers older builds kept in dist/world-eval.js.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const spo = await import(path.join(root, 'dist/index.js'));
const worldEntry = await import(path.join(root, 'dist/world/index.js'));
const legacy = path.join(root, 'dist/world-eval.js');
/** worldPrompts, judgeWorld, WorldJudgeScorer, JUDGE_TIE_MARGIN, SHAPES_WORLD_SPO, sampleAndJudge, ... */
export const world = typeof worldEntry.sampleAndJudge === 'function' || !existsSync(legacy)
  ? worldEntry : { ...worldEntry, ...(await import(legacy)) };

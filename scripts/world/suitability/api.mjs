// The package's public API as the checks use it: the engine (spo-diffusion,
// dist/index.js) and the shapes world (spo-diffusion/world, dist/world/index.js).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const spo = await import(path.join(root, 'dist/index.js'));
/** worldPrompts, judgeWorld, WorldJudgeScorer, JUDGE_TIE_MARGIN, SHAPES_WORLD_SPO, sampleAndJudge, ... */
export const world = await import(path.join(root, 'dist/world/index.js'));

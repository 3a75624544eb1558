// World v2's suitability checks 2-6 run in order on one scenes models folder
// (docs/SHAPES_WORLD.md, "Suitability checks"): the loop behind
// scripts/world/suitability.mjs. Check 1 is scripts/world/vae-round-trip.mjs.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SHAPES_WORLD_SPO, worldPrompts } from '../world';
import { checkRoom } from './check2-room';
import { checkDecided } from './check3-decided';
import { checkX0 } from './check4-x0';
import { checkEvaluator } from './check5-evaluator';
import { checkSpo } from './check6-spo';
import { promptsOf } from './prompts';
import { verdict, type CheckResult, type Verdict } from './report';
import { openBase, type BaseModel } from './trajectories';

export type CheckNumber = 2 | 3 | 4 | 5 | 6;
export const CHECKS: readonly CheckNumber[] = [2, 3, 4, 5, 6];
/** Prompts per check unless told (all five run in about 20 minutes on 2 cores with the 32 px scenes models). */
export const DEFAULT_PROMPTS: Readonly<Record<CheckNumber, number>> = { 2: 200, 3: 48, 4: 24, 5: 100, 6: 100 };

export interface SuitabilityOptions {
  /** A models folder of `spo pretrain-world --world scenes`. */
  assets: string;
  checks: readonly CheckNumber[];
  /** The split the prompts come from: validation or train (the test split is refused). */
  split: string;
  /** Prompts per check; default DEFAULT_PROMPTS. */
  prompts?: number | undefined;
  /** Check 5 measures even when report.json has the figures. */
  measureEvaluator?: boolean;
  /** Check 6: SPO rounds (default 3) and samples per prompt judged (default 1). */
  rounds?: number;
  images?: number;
  /** Check 6: SPO's learning rate and tie threshold (default the world's preset). */
  learningRate?: number | undefined;
  threshold?: number | undefined;
  /** Sees each check's result as soon as it is done. */
  onCheck?: (result: SuitabilityCheck) => void;
}

/** A check's result with the number of prompts it read and its verdict. */
export interface SuitabilityCheck extends CheckResult {
  prompts: number;
  verdict: Verdict;
}

/** Why `assets` cannot be checked (not a pretrain-world folder, or one of the relations world), or undefined. */
export function suitabilityFolderProblem(assets: string): string | undefined {
  const init = path.join(assets, 'stages', 'init.json');
  if (!existsSync(init)) return `${assets} is not a models folder of spo pretrain-world (no stages/init.json)`;
  const madeFor = JSON.parse(readFileSync(init, 'utf8')).world ?? 'relations';
  if (madeFor !== 'scenes') return `${assets} was made for the ${madeFor} world; the suitability checks are world v2's (scenes)`;
  return undefined;
}

/** Runs the checks in ascending order, each once; the prompt split is checked before any model is read. */
export async function runSuitability(o: SuitabilityOptions): Promise<SuitabilityCheck[]> {
  promptsOf(o.split, 1);
  const promptsFor = (check: CheckNumber) => promptsOf(o.split, o.prompts ?? DEFAULT_PROMPTS[check]);
  const sampling = { steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale };
  let model: BaseModel | undefined;
  const base = async () => (model ??= await openBase(o.assets, sampling));
  const results: SuitabilityCheck[] = [];
  try {
    for (const n of [...new Set(o.checks)].sort()) {
      const prompts = promptsFor(n);
      let result: CheckResult;
      if (n === 2) {
        result = await checkRoom({ assets: o.assets, prompts, ...sampling });
      } else if (n === 3) {
        result = await checkDecided({ model: await base(), prompts });
      } else if (n === 4) {
        result = await checkX0({ model: await base(), prompts });
      } else if (n === 5) {
        result = await checkEvaluator({ assets: o.assets, prompts, measure: o.measureEvaluator ?? false, ...sampling });
      } else {
        const held = new Set(prompts);
        const trainPrompts = worldPrompts('train', 'scenes').filter((p) => !held.has(p));
        result = await checkSpo({
          assets: o.assets, prompts, trainPrompts, rounds: o.rounds ?? 3, images: o.images ?? 1,
          learningRate: o.learningRate, threshold: o.threshold,
        });
      }
      const done: SuitabilityCheck = Object.assign(result, { prompts: prompts.length, verdict: verdict(result) });
      results.push(done);
      o.onCheck?.(done);
    }
  } finally {
    model?.dispose();
  }
  return results;
}

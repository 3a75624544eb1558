// World v2's suitability checks 2-6 (docs/SHAPES_WORLD.md, "Suitability checks:
// criteria fixed before any test-split run"), one command over a scenes models
// folder made by `spo pretrain-world --world scenes`. Each figure is printed
// against its criterion, PASS or FAIL; --json prints a JSON summary instead
// (the lines go to stderr). Reads validation (or train) prompts only: the test
// split is refused. Check 1 is scripts/world/vae-round-trip.mjs. Needs `npm run
// build` first. Exit status: 0 every check run passes, 1 one fails, 2 refused.
//
//   node scripts/world/suitability.mjs --assets DIR [--check N]... [--prompts N] [--json]
//
// --check N       run check N (2-6; repeat or comma-separate; default all)
// --prompts N     prompts per check (default: 2: 200, 3: 24, 4: 24, 5: 100, 6: 100; all five run in about
//                 20 minutes on 2 cores with the 32 px scenes models)
// --split S       validation (default) or train; test is refused
// --measure-evaluator  check 5 measures even when report.json has the figures
// --rounds N      check 6: SPO rounds (default 3); --images N: samples per prompt judged (default 1)
// --lr X, --threshold X  check 6: SPO's learning rate and tie threshold (default the world's preset)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TestSplitRefused, promptsOf } from './suitability/prompts.mjs';
import { formatCheck, verdict } from './suitability/report.mjs';

const DEFAULT_PROMPTS = { 2: 200, 3: 24, 4: 24, 5: 100, 6: 100 };

function usage(message) {
  process.stderr.write(`suitability: ${message}\nusage: suitability.mjs --assets DIR [--check N]... [--prompts N] ` +
    '[--split validation|train] [--json] [--measure-evaluator] [--rounds N] [--images N] [--lr X] [--threshold X]\n');
  process.exit(2);
}

const { values: o } = parseArgs({
  options: {
    assets: { type: 'string' },
    check: { type: 'string', multiple: true },
    prompts: { type: 'string' },
    split: { type: 'string', default: 'validation' },
    json: { type: 'boolean', default: false },
    'measure-evaluator': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    images: { type: 'string', default: '1' },
    lr: { type: 'string' },
    threshold: { type: 'string' },
  },
});
const positiveInt = (name, v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) usage(`--${name} must be an integer >= 1, got '${v}'`);
  return n;
};
const number = (name, v) => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) usage(`--${name} must be a number, got '${v}'`);
  return n;
};

// The test split is refused first, before any folder or model is read.
const promptCount = o.prompts === undefined ? undefined : positiveInt('prompts', o.prompts);
let promptsFor;
try {
  promptsOf(o.split, 1);
  promptsFor = (check) => promptsOf(o.split, promptCount ?? DEFAULT_PROMPTS[check]);
} catch (e) {
  if (e instanceof TestSplitRefused || e instanceof RangeError) usage(e.message);
  throw e;
}
if (!o.assets) usage('--assets DIR is required');
const init = path.join(o.assets, 'stages', 'init.json');
if (!existsSync(init)) usage(`${o.assets} is not a models folder of spo pretrain-world (no stages/init.json)`);
const madeFor = JSON.parse(readFileSync(init, 'utf8')).world ?? 'relations';
if (madeFor !== 'scenes') usage(`${o.assets} was made for the ${madeFor} world; the suitability checks are world v2's (scenes)`);
const checks = (o.check ?? ['2,3,4,5,6']).flatMap((c) => c.split(',')).map((c) => {
  const n = Number(c);
  if (![2, 3, 4, 5, 6].includes(n)) usage(`--check must be 2, 3, 4, 5 or 6 (check 1 is vae-round-trip.mjs), got '${c}'`);
  return n;
});

const { world } = await import('./suitability/api.mjs');
const sampling = { steps: world.SHAPES_WORLD_SPO.steps, guidanceScale: world.SHAPES_WORLD_SPO.guidanceScale };
const log = (text) => (o.json ? process.stderr : process.stdout).write(`${text}\n`);
log(`suitability checks ${checks.join(', ')} on ${o.assets} (${o.split} prompts)`);

let model;
const base = async () => {
  if (!model) model = await (await import('./suitability/trajectories.mjs')).openBase(o.assets, sampling);
  return model;
};
const results = [];
try {
  for (const n of [...new Set(checks)].sort()) {
    const prompts = promptsFor(n);
    let result;
    if (n === 2) {
      result = await (await import('./suitability/check2-room.mjs')).checkRoom({ assets: o.assets, prompts, ...sampling });
    } else if (n === 3) {
      result = await (await import('./suitability/check3-decided.mjs')).checkDecided({ model: await base(), prompts });
    } else if (n === 4) {
      result = await (await import('./suitability/check4-x0.mjs')).checkX0({ model: await base(), prompts });
    } else if (n === 5) {
      result = await (await import('./suitability/check5-evaluator.mjs')).checkEvaluator({
        assets: o.assets, prompts, measure: o['measure-evaluator'], ...sampling,
      });
    } else {
      const held = new Set(prompts);
      const trainPrompts = world.worldPrompts('train', 'scenes').filter((p) => !held.has(p));
      result = await (await import('./suitability/check6-spo.mjs')).checkSpo({
        assets: o.assets, prompts, trainPrompts, rounds: positiveInt('rounds', o.rounds), images: positiveInt('images', o.images),
        learningRate: number('lr', o.lr), threshold: number('threshold', o.threshold),
      });
    }
    result.prompts = prompts.length;
    result.verdict = verdict(result);
    results.push(result);
    log(formatCheck(result));
  }
} finally {
  model?.dispose();
}
const failed = results.some((r) => r.verdict === 'FAIL');
if (o.json) {
  process.stdout.write(`${JSON.stringify({ assets: path.resolve(o.assets), split: o.split, checks: results, pass: !failed }, null, 2)}\n`);
}
process.exitCode = failed ? 1 : 0;

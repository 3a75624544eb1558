// World v2's suitability checks 2-6 (docs/SHAPES_WORLD.md, "Suitability checks:
// criteria fixed before any test-split run"), one command over a scenes models
// folder made by `spo pretrain-world --world scenes`. Each figure is printed
// against its criterion, PASS or FAIL; --json prints a JSON summary instead
// (the lines go to stderr). Reads validation (or train) prompts only: the test
// split is refused. Check 1 is scripts/world/vae-round-trip.mjs. Needs `npm run
// build` first. Exit status: 0 every check run passes, 1 one fails, 2 refused.
// The checks themselves are spo-diffusion/world's `suitability` (lib/world/suitability/);
// this file only reads the command line.
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
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { suitability } = await import(path.join(root, 'dist/world/index.js'));
if (!suitability) {
  process.stderr.write('suitability: dist/ predates lib/world/suitability/; run `npm run build:ts` first\n');
  process.exit(2);
}
const { CHECKS, TestSplitRefused, formatCheck, promptsOf, runSuitability, suitabilityFolderProblem } = suitability;

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
try {
  promptsOf(o.split, 1);
  if (promptCount !== undefined) promptsOf(o.split, promptCount);
} catch (e) {
  if (e instanceof TestSplitRefused || e instanceof RangeError) usage(e.message);
  throw e;
}
if (!o.assets) usage('--assets DIR is required');
const problem = suitabilityFolderProblem(o.assets);
if (problem) usage(problem);
const checks = (o.check ?? ['2,3,4,5,6']).flatMap((c) => c.split(',')).map((c) => {
  const n = Number(c);
  if (!CHECKS.includes(n)) usage(`--check must be 2, 3, 4, 5 or 6 (check 1 is vae-round-trip.mjs), got '${c}'`);
  return n;
});
const rounds = positiveInt('rounds', o.rounds), images = positiveInt('images', o.images);
const learningRate = number('lr', o.lr), threshold = number('threshold', o.threshold);

const log = (text) => (o.json ? process.stderr : process.stdout).write(`${text}\n`);
log(`suitability checks ${checks.join(', ')} on ${o.assets} (${o.split} prompts)`);
const results = await runSuitability({
  assets: o.assets, checks, split: o.split, prompts: promptCount, measureEvaluator: o['measure-evaluator'],
  rounds, images, learningRate, threshold, onCheck: (result) => log(formatCheck(result)),
});
const failed = results.some((r) => r.verdict === 'FAIL');
if (o.json) {
  process.stdout.write(`${JSON.stringify({ assets: path.resolve(o.assets), split: o.split, checks: results, pass: !failed }, null, 2)}\n`);
}
process.exitCode = failed ? 1 : 0;

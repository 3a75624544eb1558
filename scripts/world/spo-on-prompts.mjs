// What SPO moves on one kind of shapes-world prompt, with a chosen step scorer.
//
// The train prompts of the chosen form are split in two by position (even:
// SPO trains on them, odd: held out); the judge scores the held-out half before
// and after (seeds 1234, ..., the preset's sampling), paired, with 95% intervals.
// Validation and test prompts are never read. Used for docs/SHAPES_WORLD.md's
// "what SPO can move" measurements; needs `npm run build` first.
//
//   node scripts/world/spo-on-prompts.mjs --scorer judge-rollout --form one-object --lr 3e-4 --threshold 0
//
// Scorers: the shipped evaluators (step-aware, step-agnostic, plain), or the
// judge as an oracle: judge-x0 (each candidate's x0 prediction) or
// judge-rollout (the final image each candidate leads to, the signal the
// step-aware evaluator is meant to learn).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const spo = await import(path.join(root, 'dist/index.js'));
// The shapes world is its own entry point (spo-diffusion/world).
const world = await import(path.join(root, 'dist/world/index.js'));

const SCORERS = ['step-aware', 'step-agnostic', 'plain', 'judge-x0', 'judge-rollout'];

const { values: o } = parseArgs({
  options: {
    assets: { type: 'string', default: world.shapesWorldAssets() },
    scorer: { type: 'string', default: 'step-aware' },
    // An evaluator directory instead of the shipped one that --scorer names.
    evaluator: { type: 'string' },
    form: { type: 'string', default: 'one-object' },
    rounds: { type: 'string', default: '24' },
    lr: { type: 'string', default: String(world.SHAPES_WORLD_SPO.learningRate) },
    threshold: { type: 'string', default: '0.3' },
    kappa: { type: 'string', default: '-1' },
    held: { type: 'string', default: '280' },
    seed: { type: 'string', default: '1' },
    // Images per held-out prompt (sampling seeds 1234, 1235, ...): more images, a tighter interval.
    images: { type: 'string', default: '1' },
  },
});
if (!SCORERS.includes(o.scorer)) throw new Error(`--scorer must be one of ${SCORERS.join(', ')}`);
const number = (name) => {
  const v = Number(o[name]);
  if (!Number.isFinite(v)) throw new Error(`--${name} must be a number, got '${o[name]}'`);
  return v;
};

const halves = world.trainHalves(world.worldPrompts('train'), o.form);
const trainPrompts = halves.train;
const heldOut = halves.heldOut.slice(0, number('held'));
console.log(`form ${o.form}: ${trainPrompts.length} training prompts, ${heldOut.length} held out x ${o.images} images; scorer ${o.scorer}`);

const pipeline = await spo.Pipeline.load(path.join(o.assets, 'base'));
const scorer = o.scorer === 'judge-x0' ? new world.WorldJudgeScorer(10)
  : o.scorer === 'judge-rollout' ? new world.WorldJudgeScorer(10, { rollout: true })
    : await spo.Evaluator.load(o.evaluator ?? path.join(o.assets, `evaluator-${o.scorer}`));
const started = performance.now();
const PARTS = ['total', 'alignment', 'quality', 'colour', 'shape', 'count', 'place'];
// Every held-out prompt at each sampling seed (the same seeds before and after,
// so the difference is paired), averaged per prompt: the interval is over
// prompts, not over correlated images of one prompt.
async function judgeHeldOut() {
  const images = number('images');
  const perPrompt = heldOut.map(() => Object.fromEntries(PARTS.map((part) => [part, 0])));
  for (let i = 0; i < images; i++) {
    const sampling = { seed: 1234 + i, steps: world.SHAPES_WORLD_SPO.steps, guidanceScale: world.SHAPES_WORLD_SPO.guidanceScale };
    const { scores } = await world.sampleAndJudge(pipeline, heldOut, sampling);
    scores.forEach((score, p) => { for (const part of PARTS) perPrompt[p][part] += score[part] / images; });
  }
  return perPrompt;
}

const before = await judgeHeldOut();
const trainer = new spo.Trainer({
  pipeline, evaluator: scorer, prompts: trainPrompts, ...world.SHAPES_WORLD_SPO, seed: number('seed'),
  learningRate: number('lr'), threshold: number('threshold'), kappa: number('kappa'), maxRounds: number('rounds'),
});
const result = await trainer.train();
const after = await judgeHeldOut();

const seconds = ((performance.now() - started) / 1000).toFixed(0);
console.log(`${o.rounds} rounds, lr ${o.lr}, threshold ${o.threshold}, kappa ${o.kappa}: ${result.pairsKept} pairs, ${result.optimizerSteps} updates, ${seconds} s`);
console.log('part        before            after             after - before');
for (const part of PARTS) {
  const cells = [world.partInterval(before, part), world.partInterval(after, part),
    world.pairedDifference(before, after, part)].map((i) => world.formatInterval(i).padEnd(16));
  console.log(`${part.padEnd(10)}  ${cells.join('  ')}`);
}
pipeline.dispose();
if (typeof scorer.dispose === 'function') scorer.dispose();

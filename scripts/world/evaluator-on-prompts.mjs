// Can the world's step-aware evaluator learn the judge on one kind of prompt?
//
// Samples the base model several times per training prompt of the chosen form
// (the even half, as spo-on-prompts.mjs trains on), labels every pair of one
// prompt's samples by the judge's total (ties within 0.02, as pretraining's
// pairs), trains an evaluator on them with Evaluator.train (docs/method.md §4: pairs
// noised to t and denoised by the base model), and reports its accuracy on the
// decided pairs of the held-out half at five timesteps. The result is written
// as an evaluator directory that spo-on-prompts.mjs --evaluator reads.
// Needs `npm run build` first.
//
//   node scripts/world/evaluator-on-prompts.mjs --form one-object --out runs/evaluator-one-object
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const spo = await import(path.join(root, 'dist/index.js'));
// The shapes world is its own entry point (spo-diffusion/world).
const world = await import(path.join(root, 'dist/world/index.js'));

const { values: o } = parseArgs({
  options: {
    assets: { type: 'string', default: world.shapesWorldAssets() },
    // The evaluator training starts from (a shipped one).
    from: { type: 'string', default: 'step-aware' },
    form: { type: 'string', default: 'one-object' },
    samples: { type: 'string', default: '6' },
    'held-samples': { type: 'string', default: '3' },
    steps: { type: 'string', default: '1500' },
    lr: { type: 'string', default: '1e-4' },
    out: { type: 'string' },
  },
});
if (o.out === undefined) throw new Error('--out DIR is required (the trained evaluator is written there)');
const number = (name) => {
  const v = Number(o[name]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a number > 0, got '${o[name]}'`);
  return v;
};

const halves = world.trainHalves(world.worldPrompts('train'), o.form);
const pipeline = await spo.Pipeline.load(path.join(o.assets, 'base'));

// Every pair of one prompt's samples, labelled by the judge (the Pick-a-Pic stand-in).
async function judgedPairs(prompts, samples, firstSeed) {
  const sets = [];
  for (let s = 0; s < samples; s++) {
    sets.push(await world.sampleAndJudge(pipeline, prompts, {
      seed: firstSeed + s, steps: world.SHAPES_WORLD_SPO.steps, guidanceScale: world.SHAPES_WORLD_SPO.guidanceScale,
    }));
  }
  const pairs = [];
  prompts.forEach((prompt, i) => {
    for (let a = 0; a < samples; a++) {
      for (let b = a + 1; b < samples; b++) {
        const d = sets[a].scores[i].total - sets[b].scores[i].total;
        const label = Math.abs(d) < world.JUDGE_TIE_MARGIN ? 'tie' : d > 0 ? 0 : 1;
        pairs.push({ prompt, image0: sets[a].images[i], image1: sets[b].images[i], label });
      }
    }
  });
  return pairs;
}

const started = performance.now();
const train = await judgedPairs(halves.train, number('samples'), 5000);
const validation = await judgedPairs(halves.heldOut, number('held-samples'), 9000);
const decided = (pairs) => pairs.filter((p) => p.label !== 'tie').length;
console.log(`form ${o.form}: ${train.length} train pairs (${decided(train)} decided), `
  + `${validation.length} held-out pairs (${decided(validation)} decided)`);

const evaluator = await spo.Evaluator.load(path.join(o.assets, `evaluator-${o.from}`));
const steps = number('steps');
const result = await evaluator.train({
  pipeline, train, validation, steps, batchSize: 32, learningRate: number('lr'), warmupSteps: 50, seed: 1,
  validationTimesteps: [0, 251, 501, 751, 951], validateEvery: Math.max(1, Math.floor(steps / 3)),
});
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log(`${steps} steps: loss ${result.losses[0].toFixed(3)} -> ${mean(result.losses.slice(-50)).toFixed(3)} (last 50), `
  + `${((performance.now() - started) / 1000).toFixed(0)} s`);
for (const v of result.validations) {
  const cells = v.timesteps.map((t, k) => `t ${t}: ${v.accuracy[k].toFixed(3)}`);
  console.log(`step ${v.step}, accuracy on ${v.pairs} decided held-out pairs: ${cells.join(', ')}`);
}
await evaluator.save(o.out);
console.log(`evaluator: ${o.out}`);
pipeline.dispose();
evaluator.dispose();

// What SPO moves in the scenes world (world v2), with a chosen step scorer.
//
// SPO trains on the scenes track's train prompts (the world's preset,
// SHAPES_WORLD_SPO, with the flags below over it); judge v2 scores validation
// prompts (spread evenly over the split's fixed order) before and after, at
// sampling seeds 1234, 2234, ... (the preset's sampling: 20 DDIM steps,
// guidance 5, eta 1), averaged per prompt, every part and sub-score with a
// paired 95% interval over prompts. The test split is never read. Used for
// docs/SHAPES_WORLD.md's "SPO in the scenes world" readings; needs
// `npm run build` first.
//
//   node scripts/world/spo-on-scenes.mjs --assets DIR --scorer step-aware --rounds 30
//
// Scorers: an evaluator of DIR (step-aware, plain, step-agnostic; or any
// evaluator folder with --evaluator), or judge v2 as an oracle: judge-x0 (each
// candidate's decoded x0 prediction, at its own t) or judge-rollout (the final
// image each candidate ends in).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const spo = await import(path.join(root, 'dist/index.js'));
const world = await import(path.join(root, 'dist/world/index.js'));

const SCORERS = ['step-aware', 'step-agnostic', 'plain', 'judge-x0', 'judge-rollout'];
const { values: o } = parseArgs({
  options: {
    assets: { type: 'string' },
    scorer: { type: 'string', default: 'step-aware' },
    evaluator: { type: 'string' },
    rounds: { type: 'string', default: '30' },
    lr: { type: 'string', default: String(world.SHAPES_WORLD_SPO.learningRate) },
    threshold: { type: 'string', default: '0.3' },
    kappa: { type: 'string', default: '-1' },
    seed: { type: 'string', default: '1' },
    prompts: { type: 'string', default: '100' },
    images: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
if (!o.assets) throw new Error('--assets DIR is required (a folder of `spo pretrain-world --world scenes`)');
if (!SCORERS.includes(o.scorer)) throw new Error(`--scorer must be one of ${SCORERS.join(', ')}`);
const number = (name) => {
  const v = Number(o[name]);
  if (!Number.isFinite(v)) throw new Error(`--${name} must be a number, got '${o[name]}'`);
  return v;
};

const validation = world.worldPrompts('validation', 'scenes');
const n = Math.min(number('prompts'), validation.length);
const judged = Array.from({ length: n }, (_, i) => validation[Math.floor((i * validation.length) / n)]);
const PARTS = world.JUDGE_PARTS.scenes;
const sampling = { steps: world.SHAPES_WORLD_SPO.steps, guidanceScale: world.SHAPES_WORLD_SPO.guidanceScale, eta: 1 };

// Per prompt, each part's mean over the images (the same seeds before and after: paired).
async function judge(pipeline) {
  const images = number('images');
  const perPrompt = judged.map(() => Object.fromEntries(PARTS.map((part) => [part, 0])));
  for (let i = 0; i < images; i++) {
    const { scores } = await world.sampleAndJudge(pipeline, judged, { ...sampling, seed: 1234 + 1000 * i, track: 'scenes', batch: 50 });
    scores.forEach((score, p) => { for (const part of PARTS) perPrompt[p][part] += score[part] / images; });
  }
  return perPrompt;
}

const pipeline = await spo.Pipeline.load(path.join(o.assets, 'base'));
const scorer = o.scorer === 'judge-x0' ? new world.WorldJudgeScorer(10, { track: 'scenes' })
  : o.scorer === 'judge-rollout' ? new world.WorldJudgeScorer(10, { rollout: true, track: 'scenes' })
    : await spo.Evaluator.load(o.evaluator ?? path.join(o.assets, `evaluator-${o.scorer}`));
const started = performance.now();
const before = await judge(pipeline);
const result = await new spo.Trainer({
  pipeline, evaluator: scorer, prompts: world.worldPrompts('train', 'scenes'), ...world.SHAPES_WORLD_SPO,
  seed: number('seed'), learningRate: number('lr'), threshold: number('threshold'), kappa: number('kappa'),
  maxRounds: number('rounds'),
}).train();
const kept = result.pairsKept, tied = result.pairsTied;
const after = await judge(pipeline);
const seconds = (performance.now() - started) / 1000;

const rows = PARTS.map((part) => ({ part, before: world.partInterval(before, part), after: world.partInterval(after, part),
  difference: world.pairedDifference(before, after, part) }));
const run = { scorer: o.evaluator ?? o.scorer, rounds: result.roundsDone, learningRate: number('lr'),
  threshold: number('threshold'), kappa: number('kappa'), seed: number('seed'), prompts: n, images: number('images'),
  pairsKept: kept, pairsTied: tied, optimizerSteps: result.optimizerSteps, seconds: Math.round(seconds) };
if (o.json) {
  console.log(JSON.stringify({ run, table: rows }));
} else {
  console.log(`scorer ${run.scorer}: ${run.rounds} rounds, lr ${run.learningRate}, threshold ${run.threshold}, kappa ` +
    `${run.kappa}: ${kept} pairs kept (${tied} tied), ${run.optimizerSteps} updates, ${run.seconds} s; ` +
    `${n} validation prompts x ${run.images} images`);
  console.log('part        before            after             after - before');
  for (const r of rows) {
    const cells = [r.before, r.after, r.difference].map((i) => world.formatInterval(i).padEnd(16));
    console.log(`${r.part.padEnd(10)}  ${cells.join('  ')}`);
  }
}
pipeline.dispose();
if (typeof scorer.dispose === 'function') scorer.dispose();

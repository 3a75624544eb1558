// The latent step-aware evaluator against the pixel one on the shapes world
// (docs/evaluator.md, "Latent evaluator"): judge-labelled pairs made as the
// pretraining makes them, the latent model trained on them, accuracy by t of
// both on the same held-out pairs, time per SPO round with each, and a short
// SPO run with each judged before/after on validation prompts. Needs `npm run
// build` first. Prints one JSON summary on stdout (progress on stderr).
//
//   node scripts/latent-evaluator.mjs --out DIR [--assets assets/shapes-world] [--train-prompts 1500]
//        [--validation-prompts 200] [--steps 1500] [--rounds 3] [--judge-prompts 200] [--skip-spo]
//
// The pairs: two base samples per prompt (10 DDIM steps, guidance 5, seeds s and s + 1), the relation
// judge's total decides, a tie within 0.02 (the pretraining's `pairs` stage; train seed 14, validation 114).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const spo = await import(path.join(root, 'dist/index.js'));
const world = await import(path.join(root, 'dist/world/index.js'));
const { Evaluator, Pipeline, Trainer } = spo;
const { sampleAndJudge, worldPrompts, SHAPES_WORLD_SPO, partInterval, pairedDifference } = world;

const { values: a } = parseArgs({
  options: {
    out: { type: 'string' }, assets: { type: 'string', default: path.join(root, 'assets/shapes-world') },
    'train-prompts': { type: 'string', default: '1500' }, 'validation-prompts': { type: 'string', default: '200' },
    steps: { type: 'string', default: '1500' }, rounds: { type: 'string', default: '3' },
    'judge-prompts': { type: 'string', default: '200' }, 'skip-spo': { type: 'boolean', default: false },
    'timing-rounds': { type: 'string', default: '2' },
    // Reuse --out's trained evaluator-latent: only the timing and SPO runs.
    'spo-only': { type: 'boolean', default: false },
  },
});
if (!a.out) throw new Error('--out DIR is required');
fs.mkdirSync(a.out, { recursive: true });
const log = (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const TIMESTEPS = [0, 251, 501, 701, 951];
const base = path.join(a.assets, 'base');
const pixelDir = path.join(a.assets, 'evaluator-step-aware');
const summary = { settings: { ...a } };

async function judgedPairs(pipeline, prompts, seed) {
  const sampling = { steps: 10, guidanceScale: 5, batch: 64 };
  const x = await sampleAndJudge(pipeline, prompts, { ...sampling, seed });
  const y = await sampleAndJudge(pipeline, prompts, { ...sampling, seed: seed + 1 });
  return prompts.map((prompt, i) => {
    const d = x.scores[i].total - y.scores[i].total;
    return { prompt, image0: x.images[i], image1: y.images[i], label: Math.abs(d) < 0.02 ? 'tie' : d > 0 ? 0 : 1 };
  });
}

const latentDir = path.join(a.out, 'evaluator-latent');
if (!a['spo-only']) {
const pipeline = await Pipeline.load(base);
log('making pairs ...');
const train = await judgedPairs(pipeline, worldPrompts('train').slice(0, Number(a['train-prompts'])), 14);
const validation = await judgedPairs(pipeline, worldPrompts('validation').slice(0, Number(a['validation-prompts'])), 114);
summary.pairs = { train: train.length, trainTies: train.filter((p) => p.label === 'tie').length,
  validation: validation.length, validationDecided: validation.filter((p) => p.label !== 'tie').length };
log(`pairs: ${JSON.stringify(summary.pairs)}`);

// Accuracy by t on the same held-out pairs.
const pixel = await Evaluator.load(pixelDir);
let t0 = performance.now();
summary.pixelAccuracy = await pixel.validate({ pipeline, pairs: validation, timesteps: TIMESTEPS, seed: 42 });
summary.pixelValidateSeconds = (performance.now() - t0) / 1000;
log(`pixel step-aware: ${JSON.stringify(summary.pixelAccuracy.accuracy)} (${summary.pixelValidateSeconds.toFixed(1)} s)`);

const latent = await Evaluator.createLatent(pixelDir, { seed: 42 });
t0 = performance.now();
const trained = await latent.train({ pipeline, train, validation, steps: Number(a.steps), batchSize: 32, learningRate: 1e-3,
  warmupSteps: 100, seed: 42, validationTimesteps: TIMESTEPS, validateEvery: Math.max(1, Math.floor(Number(a.steps) / 3)) },
  { onProgress: (p) => p.stage === 'validate' && log(`latent step ${p.step}: ${JSON.stringify(p.metrics)}`) });
summary.latentTrainSeconds = (performance.now() - t0) / 1000;
summary.latentValidations = trained.validations;
summary.latentAccuracy = trained.validations.at(-1);
const tail = trained.losses.slice(-50);
summary.latentFinalLoss = tail.reduce((s, x) => s + x, 0) / tail.length;
await latent.save(latentDir);
log(`latent: ${JSON.stringify(summary.latentAccuracy.accuracy)}, loss ${summary.latentFinalLoss.toFixed(4)} ` +
  `(${summary.latentTrainSeconds.toFixed(0)} s); saved ${latentDir}`);
pixel.dispose();
latent.dispose();
pipeline.dispose();
}

// Time per SPO round (the world's preset, same prompts and seed) and the sampling part of it.
async function spoRun(evaluatorDir, rounds, judgePrompts) {
  const pipe = await Pipeline.load(base);
  const evaluator = await Evaluator.load(evaluatorDir);
  const sampling = { seed: 7, steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale };
  const before = judgePrompts.length ? await sampleAndJudge(pipe, judgePrompts, sampling) : undefined;
  const marks = [];
  const stamp = (e) => marks.push({ type: e.type, round: e.round, at: performance.now() });
  const result = await new Trainer({ pipeline: pipe, evaluator, prompts: worldPrompts('train'), ...SHAPES_WORLD_SPO,
    seed: 3, maxRounds: rounds }).train({ onEvent: (e) => { if (e.type === 'round' || e.type === 'pairs') stamp(e); } });
  stamp({ type: 'done' });
  const perRound = [];
  for (let r = 0; r < marks.length; ++r) {
    if (marks[r].type !== 'round') continue;
    const pairs = marks.slice(r).find((m) => m.type === 'pairs');
    const end = marks.slice(r + 1).find((m) => m.type === 'round' || m.type === 'done');
    perRound.push({ sampling: (pairs.at - marks[r].at) / 1000, whole: (end.at - marks[r].at) / 1000 });
  }
  const out = { perRound, rounds: result.roundsDone, samplingSeconds: result.samplingSeconds,
    updateSeconds: result.updateSeconds, pairsKept: result.pairsKept, optimizerSteps: result.optimizerSteps };
  if (before) {
    const after = await sampleAndJudge(pipe, judgePrompts, sampling);
    out.judge = { before: partInterval(before.scores, 'total'), after: partInterval(after.scores, 'total'),
      difference: pairedDifference(before.scores, after.scores, 'total') };
  }
  evaluator.dispose();
  pipe.dispose();
  return out;
}

const timingRounds = Number(a['timing-rounds']);
summary.timing = {};
for (const [name, dir] of [['pixel', pixelDir], ['latent', latentDir]]) {
  log(`timing ${name}: ${timingRounds} rounds ...`);
  summary.timing[name] = await spoRun(dir, timingRounds, []);
  log(`  ${JSON.stringify(summary.timing[name].perRound)}`);
}
if (!a['skip-spo']) {
  const judgePrompts = worldPrompts('validation').slice(0, Number(a['judge-prompts']));
  summary.spo = {};
  for (const [name, dir] of [['latent', latentDir], ['pixel', pixelDir]]) {
    log(`SPO with the ${name} evaluator: ${a.rounds} rounds, judged on ${judgePrompts.length} validation prompts ...`);
    summary.spo[name] = await spoRun(dir, Number(a.rounds), judgePrompts);
    log(`  ${JSON.stringify(summary.spo[name].judge)}`);
  }
}
fs.writeFileSync(path.join(a.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
process.stdout.write(JSON.stringify(summary, null, 2) + '\n');

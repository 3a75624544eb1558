// How far SPO's tie threshold can trust a step-aware evaluator, by timestep.
//
// Two base samples of each validation prompt (seeds 5000 and 6000, the
// preset's sampling), judged by judge v2; the decided pairs (totals more than
// the tie margin apart) are encoded, noised to t with one noise draw shared by
// both images of a pair, and scored the way SPO scores candidates (the guided
// x0 prediction, decoded; the clean images at t = 0). Per t it prints the
// pair accuracy, the mean margin |softmax difference|, the share of pairs
// whose margin passes the threshold, and the accuracy of those kept pairs.
// The test split is never read. Used for docs/SHAPES_WORLD.md; needs
// `npm run build` first.
//
//   node scripts/world/evaluator-margins.mjs --assets DIR [--evaluator DIR/evaluator-step-aware]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const spo = await import(path.join(root, 'dist/index.js'));
const world = await import(path.join(root, 'dist/world/index.js'));
const { imagesToTensor } = await import(path.join(root, 'dist/runtime/image.js'));

const { values: o } = parseArgs({
  options: {
    assets: { type: 'string' },
    evaluator: { type: 'string' },
    prompts: { type: 'string', default: '100' },
    threshold: { type: 'string', default: '0.3' },
    timesteps: { type: 'string', default: '0,101,201,301,401,501,701,901' },
    seed: { type: 'string', default: '1' },
  },
});
if (!o.assets) throw new Error('--assets DIR is required (a folder of `spo pretrain-world --world scenes`)');
const threshold = Number(o.threshold);
const count = Number(o.prompts);
const timesteps = o.timesteps.split(',').map(Number);
if (!(threshold >= 0 && threshold < 1)) throw new Error(`--threshold must be in [0, 1), got '${o.threshold}'`);
if (!Number.isInteger(count) || count < 1) throw new Error(`--prompts must be a positive integer, got '${o.prompts}'`);
if (timesteps.some((t) => !Number.isInteger(t) || t < 0 || t > 999)) throw new Error(`--timesteps must be integers in [0, 999]`);

const base = path.join(o.assets, 'base');
const pipeline = await spo.Pipeline.load(base);
const vae = await spo.VAE.load(path.join(base, 'vae'));
const evaluator = await spo.Evaluator.load(o.evaluator ?? path.join(o.assets, 'evaluator-step-aware'));
const scheduler = spo.DDIMScheduler.fromDiffusersConfig(
  JSON.parse(readFileSync(path.join(base, 'scheduler', 'scheduler_config.json'), 'utf8')));

const validation = world.worldPrompts('validation', 'scenes');
const n = Math.min(count, validation.length);
const prompts = Array.from({ length: n }, (_, i) => validation[Math.floor((i * validation.length) / n)]);
const sampling = { steps: world.SHAPES_WORLD_SPO.steps, guidanceScale: world.SHAPES_WORLD_SPO.guidanceScale, eta: 1,
  track: 'scenes', batch: 50 };
const first = await world.sampleAndJudge(pipeline, prompts, { ...sampling, seed: 5000 });
const second = await world.sampleAndJudge(pipeline, prompts, { ...sampling, seed: 6000 });
const pairs = [];
prompts.forEach((prompt, i) => {
  const d = first.scores[i].total - second.scores[i].total;
  if (Math.abs(d) > world.JUDGE_TIE_MARGIN) pairs.push({ prompt, i, firstWins: d > 0 });
});
if (pairs.length === 0) throw new Error('every pair tied; nothing to measure');

// Rows 0..P-1 are the first images of the pairs, rows P..2P-1 the second.
const P = pairs.length;
const images = [...pairs.map((p) => first.images[p.i]), ...pairs.map((p) => second.images[p.i])];
const stacked = imagesToTensor(images);
const pairPrompts = [...pairs.map((p) => p.prompt), ...pairs.map((p) => p.prompt)];
const posterior = (await vae.encode(stacked)).mean;
const shift = vae.config.shiftFactor ?? 0;
const latents = { data: Float32Array.from(posterior.data, (v) => (v - shift) * vae.scalingFactor), shape: posterior.shape };

// One standard normal draw per pair, shared by its two images (a seeded LCG + Box-Muller).
let state = Number(o.seed) >>> 0;
const uniform = () => { state = (Math.imul(state, 1664525) + 1013904223) >>> 0; return (state + 1) / 4294967297; };
const half = latents.data.length / 2;
const draw = Float32Array.from({ length: half }, () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform()));
const noise = { data: new Float32Array(2 * half), shape: latents.shape };
noise.data.set(draw, 0);
noise.data.set(draw, half);

console.log(`${P} decided pairs of ${n} validation prompts; threshold ${threshold}`);
for (const t of timesteps) {
  const scores = t === 0
    ? await evaluator.score({ images: stacked, prompts: pairPrompts })
    : await evaluator.score({ latents: await scheduler.addNoise(latents, noise, t), pipeline, prompts: pairPrompts,
      timesteps: t, guidanceScale: sampling.guidanceScale, maxBatch: 64 });
  let right = 0, kept = 0, keptRight = 0, margins = 0;
  pairs.forEach((p, j) => {
    const d = scores[j] - scores[j + P];
    const margin = Math.tanh(Math.abs(d) / 2); // |softmax([a, b])[0] - softmax([a, b])[1]|
    const correct = d !== 0 && (d > 0) === p.firstWins;
    right += correct;
    margins += margin;
    if (margin > threshold) { kept++; keptRight += correct; }
  });
  console.log(`t ${String(t).padStart(3)}: accuracy ${(right / P).toFixed(3)}, mean margin ${(margins / P).toFixed(3)}, ` +
    `kept ${(kept / P).toFixed(3)}, accuracy of the kept ${kept ? (keptRight / kept).toFixed(3) : '-'} (${kept} pairs)`);
}
pipeline.dispose();
vae.dispose();
evaluator.dispose();

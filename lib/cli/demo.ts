// `spo demo` (`npm run demo`): the package's main job on its built-in world.
// SPO fine-tunes the shipped shapes-world base model with the shipped
// step-aware evaluator, then the world's judge scores the test split before
// and after (same prompts, same seeds), and a before/after PNG grid is written.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Evaluator } from '../evaluator';
import { Pipeline } from '../pipeline';
import { Trainer } from '../trainer';
import { worldPrompts, shapesWorldAssets, SHAPES_WORLD_SPO } from '../world';
import { imagesToTensor } from '../image';
import {
  formatInterval, imageGrid, pairedDifference, partInterval, sampleAndJudge, spatialBreakdown, type JudgePart,
} from '../world-eval';

export interface DemoOptions {
  assets?: string;
  prompts: number;
  rounds: number;
  seed: number;
  out: string;
  json: boolean;
}

export async function runDemo(opts: DemoOptions, signal?: AbortSignal): Promise<number> {
  const assets = opts.assets ?? shapesWorldAssets();
  const log = opts.json ? () => {} : (line: string) => process.stdout.write(`${line}\n`);
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const pipeline = await Pipeline.load(path.join(assets, 'base'), { signal });
  const evaluator = await Evaluator.load(path.join(assets, 'evaluator-step-aware'), { signal });
  const test = worldPrompts('test').slice(0, opts.prompts);
  const sampling = { seed: opts.seed, steps: SHAPES_WORLD_SPO.steps, guidanceScale: SHAPES_WORLD_SPO.guidanceScale };

  log(`spo-diffusion demo: SPO on the shapes world (${assets})`);
  log(`judging the base model on ${test.length} test prompts ...`);
  const before = await sampleAndJudge(pipeline, test, sampling, { signal });
  log(`  done (${elapsed()}); SPO training, ${opts.rounds} rounds ...`);

  const trainer = new Trainer({
    pipeline, evaluator, prompts: worldPrompts('train'), ...SHAPES_WORLD_SPO, seed: opts.seed, maxRounds: opts.rounds,
    output: path.join(opts.out, 'lora'),
  });
  let lastLine = 0;
  const result = await trainer.train({
    signal,
    onEvent: (e) => {
      if (e.type === 'update' && performance.now() - lastLine > 10_000) {
        lastLine = performance.now();
        log(`  round ${e.round}/${opts.rounds}: loss ${e.loss.toFixed(4)} (${elapsed()})`);
      }
    },
  });
  log(`  done (${elapsed()}): ${result.pairsKept} pairs kept, ${result.optimizerSteps} updates; judging again ...`);
  const after = await sampleAndJudge(pipeline, test, sampling, { signal });

  const parts: JudgePart[] = ['total', 'alignment', 'quality', 'colour', 'shape', 'count', 'place'];
  const table = parts.map((part) => ({
    part,
    before: partInterval(before.scores, part),
    after: partInterval(after.scores, part),
    difference: pairedDifference(before.scores, after.scores, part),
  }));
  // Whether the images follow the prompts' spatial words: the base model's main failure.
  const spatial = {
    before: spatialBreakdown(imagesToTensor(before.images), test),
    after: spatialBreakdown(imagesToTensor(after.images), test),
  };
  await mkdir(opts.out, { recursive: true });
  const grid = imageGrid([before.images.slice(0, 16), after.images.slice(0, 16)]);
  const gridFile = path.join(opts.out, 'before-after.png');
  await grid.savePNG(gridFile);
  const summary = {
    assets, testPrompts: test.length, seed: opts.seed, rounds: opts.rounds, settings: SHAPES_WORLD_SPO,
    pairsKept: result.pairsKept, optimizerSteps: result.optimizerSteps, seconds: (performance.now() - started) / 1000,
    table, spatial, grid: gridFile, gridPrompts: test.slice(0, 16),
  };
  await writeFile(path.join(opts.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    log('');
    log(`judge on the test split (${test.length} prompts, mean ± 95% interval; after - before is paired)`);
    log(`  part          before            after             after - before`);
    for (const row of table) {
      log(`  ${row.part.padEnd(10)}  ${formatInterval(row.before).padEnd(16)}  ${formatInterval(row.after).padEnd(16)}  ${formatInterval(row.difference)}`);
    }
    log('');
    const rel = (b: typeof spatial.before) => {
      const r = b.relation, readable = r.prompts - r.neither;
      const pct = (n: number) => `${Math.round((100 * n) / Math.max(1, readable))}%`;
      return `${readable} readable: followed ${pct(r.followed)}, reversed ${pct(r.reversed)}, other axis ${pct(r.otherAxis)}`;
    };
    log(`relations (${spatial.before.relation.prompts} prompts with two colours; a model ignoring the word reads 25 / 25 / 50%):`);
    log(`  before: ${rel(spatial.before)}`);
    log(`  after:  ${rel(spatial.after)}`);
    log('');
    log(`grid: ${gridFile} (left: before, right: after; rows: the first 16 test prompts, in ${path.join(opts.out, 'summary.json')})`);
    log(`time: ${elapsed()}`);
  }
  pipeline.dispose();
  evaluator.dispose();
  return 0;
}

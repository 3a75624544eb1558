// The package's two entry points as package.json "exports" names them, from
// this checkout by the package's own name (Node resolves a package's name
// from inside it): spo-diffusion (the engine) and spo-diffusion/world (the
// shapes world), each from require() and from import, with their types.
// Needs the compiled dist/ (npm run build:ts); the packed tarball is
// checked the same way in packaging.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-entries-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function node(args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe('entry points', () => {
  it('spo-diffusion/world resolves from require() and import, to one copy shared with the engine entry', () => {
    const cjs = node(['-e', `
      const world = require('spo-diffusion/world'), engine = require('spo-diffusion');
      console.log(JSON.stringify({
        entry: require.resolve('spo-diffusion/world'), names: Object.keys(world),
        engineNames: Object.keys(engine), isScorer: new world.WorldJudgeScorer() instanceof engine.StepScorer,
        prompts: world.worldPrompts('test').length }));`]);
    expect(cjs.entry).toBe(path.join(dist, 'world', 'index.js'));
    expect(cjs.isScorer).toBe(true);
    expect(cjs.prompts).toBe(500);
    // The engine's entry holds none of the world's names (and the world none of the engine's classes).
    expect(cjs.names).toEqual(expect.arrayContaining(['WorldJudgeScorer', 'worldPrompts', 'renderWorld', 'judgeWorld',
      'pretrainWorld', 'shapesWorldAssets', 'SHAPES_WORLD_SPO', 'trainHalves', 'sampleAndJudge', 'readWorldPretrainingReport',
      'suitability']));
    expect(cjs.engineNames).toEqual(expect.arrayContaining(['Trainer', 'Evaluator', 'StepScorer']));
    expect(cjs.engineNames.filter((n: string) => cjs.names.includes(n))).toEqual([]);
    expect(cjs.engineNames.filter((n: string) => /world|judge/i.test(n))).toEqual([]);

    const esm = node(['--input-type=module', '-e', `
      import { WorldJudgeScorer, suitability, worldPrompts } from 'spo-diffusion/world';
      import world from 'spo-diffusion/world';
      import { StepScorer } from 'spo-diffusion';
      import { createRequire } from 'node:module';
      const required = createRequire(import.meta.url)('spo-diffusion/world');
      console.log(JSON.stringify({ entry: import.meta.resolve('spo-diffusion/world'),
        sameClass: WorldJudgeScorer === required.WorldJudgeScorer && world.WorldJudgeScorer === WorldJudgeScorer,
        suitability: suitability.verdict({ figures: [{ pass: true }] }) + ' ' + (suitability.TestSplitRefused === required.suitability.TestSplitRefused),
        isScorer: new WorldJudgeScorer(5, { track: 'scenes' }) instanceof StepScorer, prompts: worldPrompts('test', 'scenes').length }));`]);
    expect(esm).toEqual({ entry: pathToFileURL(path.join(dist, 'world', 'index.mjs')).href, sameClass: true, isScorer: true,
      prompts: 500, suitability: 'PASS true' });
  });

  it('types both entries for a TypeScript consumer (nodenext), and the engine entry has no world type', () => {
    const consumer = path.join(work, 'consumer');
    mkdirSync(path.join(consumer, 'node_modules'), { recursive: true });
    symlinkSync(root, path.join(consumer, 'node_modules', 'spo-diffusion'), 'dir');
    writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    writeFileSync(path.join(consumer, 'esm.mts'), `import { Trainer, type StepScorer } from 'spo-diffusion';
import { WorldJudgeScorer, type WorldTrack } from 'spo-diffusion/world';
const track: WorldTrack = 'scenes';
export const scorer: StepScorer = new WorldJudgeScorer(10, { track, rollout: true });
export const make = (o: ConstructorParameters<typeof Trainer>[0]) => new Trainer({ ...o, evaluator: scorer });
`);
    writeFileSync(path.join(consumer, 'cjs.cts'), `import world = require('spo-diffusion/world');
import spo = require('spo-diffusion');
export const scorer: spo.StepScorer = new world.WorldJudgeScorer();
`);
    // A world name from the engine entry must not type-check.
    writeFileSync(path.join(consumer, 'no-world.mts'), `import { WorldJudgeScorer } from 'spo-diffusion';
export const s = new WorldJudgeScorer();
`);
    const tsc = (files: string[]) => spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--lib', 'es2022,dom', '--typeRoots', path.join(root, 'node_modules', '@types'), '--types', 'node', '--skipLibCheck',
      '--traceResolution', ...files], { cwd: consumer, encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
    const ok = tsc(['esm.mts', 'cjs.cts']);
    expect(ok.stdout.split('\n').filter((l) => /error TS/.test(l))).toEqual([]);
    expect(ok.status).toBe(0);
    const resolved = [...ok.stdout.matchAll(/Module name 'spo-diffusion\/world' was successfully resolved to '([^']+)'/g)]
      .map((m) => path.relative(dist, m[1]!));
    expect([...new Set(resolved)].sort()).toEqual([path.join('world', 'index.d.mts'), path.join('world', 'index.d.ts')]);
    const bad = tsc(['no-world.mts']);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/has no exported member 'WorldJudgeScorer'/);
  }, 120_000);

  it('types spo-diffusion/world for consumers on moduleResolution node10 (typesVersions) and bundler too', () => {
    const consumer = path.join(work, 'older');
    mkdirSync(path.join(consumer, 'node_modules'), { recursive: true });
    symlinkSync(root, path.join(consumer, 'node_modules', 'spo-diffusion'), 'dir');
    writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'older', private: true }));
    // Real types, not an untyped module: the call below must be an error (an unused @ts-expect-error is one too).
    writeFileSync(path.join(consumer, 'consumer.ts'), `import { Trainer, type StepScorer } from 'spo-diffusion';
import { WorldJudgeScorer, suitability, worldPrompts, type WorldTrack } from 'spo-diffusion/world';
const track: WorldTrack = 'scenes';
export const scorer: StepScorer = new WorldJudgeScorer(10, { track });
export const make = (o: ConstructorParameters<typeof Trainer>[0]) => new Trainer({ ...o, evaluator: scorer });
export const prompts: string[] = worldPrompts('validation', track);
export const verdict: suitability.Verdict = suitability.verdict({ figures: [] });
// @ts-expect-error a split is 'train', 'validation' or 'test'
worldPrompts('nowhere');
`);
    for (const [resolution, module, world] of [['node10', 'commonjs', 'index.d.ts'], ['bundler', 'esnext', 'index.d.mts']]) {
      const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '--noEmit', '--strict', '--module', module!, '--moduleResolution', resolution!, '--target', 'es2022',
        '--lib', 'es2022,dom', '--typeRoots', path.join(root, 'node_modules', '@types'), '--types', 'node', '--skipLibCheck',
        '--traceResolution', 'consumer.ts'], { cwd: consumer, encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
      expect(r.stdout.split('\n').filter((l) => /error TS/.test(l)), resolution).toEqual([]);
      expect(r.status, resolution).toBe(0);
      const resolved = [...r.stdout.matchAll(/Module name 'spo-diffusion\/world' was successfully resolved to '([^']+)'/g)]
        .map((m) => path.relative(dist, m[1]!));
      expect([...new Set(resolved)], resolution).toEqual([path.join('world', world!)]);
    }
  }, 120_000);
});

// The published package, as a user gets it: `npm pack`, then `npm install`
// of the tarball into an empty project, once using the prebuilt binary and
// once with a prebuild that does not load (so the installer builds from
// source). Both installs must work from require() and from import (each
// through its own entry point, the engine's and spo-diffusion/world's), and
// type-check from both.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'spo-pack-'));
const libtorch = realpathSync(path.join(root, '.libtorch'));

// A clean environment: no npm lifecycle variables from the `npm test` that runs us.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')),
);
env.LIBTORCH = libtorch; // reuse this checkout's libtorch instead of a second 3 GB download

function sh(cmd: string, args: string[], cwd: string) {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 2 ** 20 });
}

function installInto(name: string, tarball: string) {
  const dir = path.join(work, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true }));
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], {
    cwd: dir, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`npm install failed:\n${r.stdout}\n${r.stderr}`);
  return { dir, log: `${r.stdout}\n${r.stderr}` };
}

function useFromCommonJsAndEsm(dir: string) {
  const cjs = sh(process.execPath, ['-e', `
    const spo = require('spo-diffusion');
    const world = require('spo-diffusion/world');
    const s = new spo.DDIMScheduler();
    console.log(JSON.stringify({ t: s.setTimesteps(20).slice(0, 2), entry: require.resolve('spo-diffusion'), binary: require('node-gyp-build').path(require.resolve('spo-diffusion/package.json').replace(/package.json$/, '')),
      world: require.resolve('spo-diffusion/world'), worldScorer: new world.WorldJudgeScorer() instanceof spo.StepScorer, worldInEngine: 'WorldJudgeScorer' in spo }));`], dir);
  // The ESM entry, and the same classes as require() gives (one copy of the package).
  const esm = sh(process.execPath, ['--input-type=module', '-e', `
    import { DDIMScheduler, StepScorer, Trainer, buildInfo } from 'spo-diffusion';
    import { WorldJudgeScorer, worldPrompts } from 'spo-diffusion/world';
    import { createRequire } from 'node:module';
    const s = new DDIMScheduler();
    s.setTimesteps(20);
    const r = await s.sampleGaussian({ shape: [2, 4, 8, 8], steps: 20, seed: 1 });
    const sameClasses = Trainer === createRequire(import.meta.url)('spo-diffusion').Trainer;
    const world = { entry: import.meta.resolve('spo-diffusion/world'), prompts: worldPrompts('test').length,
      scorer: new WorldJudgeScorer() instanceof StepScorer && WorldJudgeScorer === createRequire(import.meta.url)('spo-diffusion/world').WorldJudgeScorer };
    console.log(JSON.stringify({ torch: buildInfo().torchVersion, steps: r.timesteps.length, entry: import.meta.resolve('spo-diffusion'), sameClasses, world }));`], dir);
  return {
    cjs: JSON.parse(cjs) as { t: number[]; entry: string; binary: string; world: string; worldScorer: boolean; worldInEngine: boolean },
    esm: JSON.parse(esm) as { torch: string; steps: number; entry: string; sameClasses: boolean;
      world: { entry: string; prompts: number; scorer: boolean } },
  };
}

// Both entry points' types, as a TypeScript consumer resolves them (nodenext:
// the "import" and "require" conditions), checked together with every .d.ts
// they reach (no skipLibCheck): an @internal-stripped declaration that a
// public one still names would fail here.
function typeCheckConsumer(dir: string) {
  writeFileSync(path.join(dir, 'esm.mts'), `import spo, { Trainer, type TrainerEvent, type SpoSettings } from 'spo-diffusion';
export const checks = [spo.Trainer === Trainer, ((e: TrainerEvent) => e.type)({ type: 'checkpoint', round: 1 })];
export type K = SpoSettings['k'];
import { WorldJudgeScorer, type WorldTrack } from 'spo-diffusion/world';
export const oracle: import('spo-diffusion').StepScorer = new WorldJudgeScorer(10, { track: 'scenes' satisfies WorldTrack });
`);
  writeFileSync(path.join(dir, 'cjs.cts'), `import spo = require('spo-diffusion');
export const checks = [spo.Trainer, ((e: spo.TrainerEvent) => e.type)({ type: 'checkpoint', round: 1 })];
import world = require('spo-diffusion/world');
export const oracle: spo.StepScorer = new world.WorldJudgeScorer();
`);
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,dom',
    '--typeRoots', path.join(root, 'node_modules', '@types'), '--types', 'node', '--traceResolution', 'esm.mts', 'cjs.cts'],
  { cwd: dir, encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const resolved = [...r.stdout.matchAll(/Module name 'spo-diffusion(?:\/world)?' was successfully resolved to '([^']+)'/g)].map((m) => m[1]);
  const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
  return { status: r.status, errors, resolved };
}

let tarball = '';

beforeAll(() => {
  sh(process.execPath, ['scripts/make-prebuild.mjs'], root);
  sh('npm', ['pack', '--pack-destination', work], root);
  tarball = path.join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('npm pack + npm install', () => {
  it('ships the prebuild, sources and compiled TypeScript, and nothing from the work tree', () => {
    const files = sh('tar', ['tzf', tarball], work).split('\n');
    expect(files).toContain('package/prebuilds/linux-x64/spo-diffusion.napi.node');
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/dist/index.mjs');
    expect(files).toContain('package/dist/index.d.mts');
    for (const f of ['index.js', 'index.d.ts', 'index.mjs', 'index.d.mts']) expect(files).toContain(`package/dist/world/${f}`);
    expect(files).toContain('package/native/core/kernels/ddim_step/ddim_step_cuda.cu');
    expect(files).toContain('package/assets/shapes-world/base/unet/diffusion_pytorch_model.safetensors');
    expect(files).toContain('package/assets/shapes-world/evaluator-step-aware/model.safetensors');
    expect(files.some((f) => f.includes('node_modules') || f.includes('.venv') || f.startsWith('package/build/'))).toBe(false);
    // stripInternal: no declaration marked @internal ships in the types.
    const declarations = sh('tar', ['xzf', tarball, '-O', '--wildcards', 'package/dist/*.d.ts', 'package/dist/*.d.mts'], work);
    expect(declarations).toContain('export declare class Trainer');
    expect(declarations).not.toContain('@internal');
  });

  it('installs into an empty project using the prebuild that loads', () => {
    const { dir, log } = installInto('prebuilt', tarball);
    expect(log).toMatch(/using prebuilds\/linux-x64\/spo-diffusion\.napi\.node/);
    const { cjs, esm } = useFromCommonJsAndEsm(dir);
    expect(cjs.t).toEqual([951, 901]);
    expect(cjs.binary).toContain(path.join('prebuilds', 'linux-x64'));
    const installed = path.join(dir, 'node_modules', 'spo-diffusion', 'dist');
    expect(cjs.entry).toBe(path.join(installed, 'index.js'));
    expect([cjs.world, cjs.worldScorer, cjs.worldInEngine]).toEqual([path.join(installed, 'world', 'index.js'), true, false]);
    expect(esm).toEqual({ torch: expect.stringMatching(/^2\./), steps: 20, entry: pathToFileURL(path.join(installed, 'index.mjs')).href,
      sameClasses: true, world: { entry: pathToFileURL(path.join(installed, 'world', 'index.mjs')).href, prompts: 500, scorer: true } });
    const types = typeCheckConsumer(dir);
    expect(types.errors).toEqual([]);
    expect(types.status).toBe(0);
    expect([...new Set(types.resolved.map((f) => path.relative(installed, f!)))].sort())
      .toEqual(['index.d.mts', 'index.d.ts', path.join('world', 'index.d.mts'), path.join('world', 'index.d.ts')]);
    const check = sh(path.join(dir, 'node_modules', '.bin', 'spo'), ['ddim-check', '--steps', '10', '--json'], dir);
    expect(JSON.parse(check).steps).toBe(10);
    // The shipped scenes-world models travel in the package: a one-round demo (scenes, the default) from the installed copy.
    const demo = sh(path.join(dir, 'node_modules', '.bin', 'spo'),
      ['demo', '--prompts', '2', '--rounds', '1', '--json', '--out', path.join(dir, 'demo-out')], dir);
    const summary = JSON.parse(demo);
    expect(summary.assets).toBe(path.join(dir, 'node_modules', 'spo-diffusion', 'assets', 'scenes-world'));
    expect(summary.table.map((r: { part: string }) => r.part)).toContain('total');
  }, 600_000);

  it('builds from source when the prebuild does not load', () => {
    // The same tarball with a prebuild that is not a valid shared object.
    const unpacked = path.join(work, 'unpacked');
    mkdirSync(unpacked);
    sh('tar', ['xzf', tarball, '-C', unpacked], work);
    writeFileSync(path.join(unpacked, 'package', 'prebuilds', 'linux-x64', 'spo-diffusion.napi.node'), 'not an ELF file');
    const broken = path.join(work, 'broken-prebuild.tgz');
    sh('tar', ['czf', broken, '-C', unpacked, 'package'], work);

    const { dir, log } = installInto('from-source', broken);
    expect(log).toMatch(/did not load/);
    expect(log).toMatch(/building the native engine from source/);
    const { cjs, esm } = useFromCommonJsAndEsm(dir);
    expect(cjs.binary).toContain(path.join('build', 'Release'));
    expect(cjs.t).toEqual([951, 901]);
    expect(esm.steps).toBe(20);
    expect(esm.entry).toMatch(/\/dist\/index\.mjs$/);
  });
}, 2_400_000);

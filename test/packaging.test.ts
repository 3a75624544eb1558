// The published package, as a user gets it: `npm pack`, then `npm install`
// of the tarball into an empty project, once using the prebuilt binary and
// once with a prebuild that does not load (so the installer builds from
// source). Both installs must work from require() and from import.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
    const s = new spo.DDIMScheduler();
    console.log(JSON.stringify({ t: s.setTimesteps(20).slice(0, 2), binary: require('node-gyp-build').path(require.resolve('spo-diffusion/package.json').replace(/package.json$/, '')) }));`], dir);
  const esm = sh(process.execPath, ['--input-type=module', '-e', `
    import { DDIMScheduler, buildInfo } from 'spo-diffusion';
    const s = new DDIMScheduler();
    s.setTimesteps(20);
    const r = await s.sampleGaussian({ shape: [2, 4, 8, 8], steps: 20, seed: 1 });
    console.log(JSON.stringify({ torch: buildInfo().torchVersion, steps: r.timesteps.length }));`], dir);
  return { cjs: JSON.parse(cjs) as { t: number[]; binary: string }, esm: JSON.parse(esm) as { torch: string; steps: number } };
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
    expect(files).toContain('package/native/core/kernels/ddim_step_cuda.cu');
    expect(files).toContain('package/assets/shapes-world/base/unet/diffusion_pytorch_model.safetensors');
    expect(files).toContain('package/assets/shapes-world/evaluator-step-aware/model.safetensors');
    expect(files.some((f) => f.includes('node_modules') || f.includes('.venv') || f.startsWith('package/build/'))).toBe(false);
  });

  it('installs into an empty project using the prebuild that loads', () => {
    const { dir, log } = installInto('prebuilt', tarball);
    expect(log).toMatch(/using prebuilds\/linux-x64\/spo-diffusion\.napi\.node/);
    const { cjs, esm } = useFromCommonJsAndEsm(dir);
    expect(cjs.t).toEqual([951, 901]);
    expect(cjs.binary).toContain(path.join('prebuilds', 'linux-x64'));
    expect(esm).toEqual({ torch: expect.stringMatching(/^2\./), steps: 20 });
    const check = sh(path.join(dir, 'node_modules', '.bin', 'spo'), ['ddim-check', '--steps', '10', '--json'], dir);
    expect(JSON.parse(check).steps).toBe(10);
    // The shipped shapes-world models travel in the package: a one-round demo from the installed copy.
    const demo = sh(path.join(dir, 'node_modules', '.bin', 'spo'),
      ['demo', '--prompts', '2', '--rounds', '1', '--json', '--out', path.join(dir, 'demo-out')], dir);
    const summary = JSON.parse(demo);
    expect(summary.assets).toBe(path.join(dir, 'node_modules', 'spo-diffusion', 'assets', 'shapes-world'));
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
  });
}, 2_400_000);

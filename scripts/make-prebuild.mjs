// Makes the CPU prebuild with prebuildify: prebuilds/<platform>-<arch>/
// spo-diffusion.napi.node, the name node-gyp-build looks for, with a note of
// the libtorch it was built against. prebuildify has no cmake-js backend of
// its own; it runs scripts/prebuild-build.sh where it would run node-gyp.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { name } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
// An older binary left beside the new one could be the one node-gyp-build picks.
for (const f of existsSync(dir) ? readdirSync(dir) : []) if (f.endsWith('.node')) rmSync(path.join(dir, f));
// prebuildify's working folder: it takes the .node file from its build/Release.
const stage = path.join(root, 'build-prebuild', 'prebuildify');
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
// --name <name>.napi keeps the napi tag in the file name (prebuildify 6 names
// an N-API build <name>.node): node-gyp-build reads either, and the CUDA
// prebuild (prebuilds/linux-x64-cuda/spo-diffusion.napi.node) has the same name.
const r = spawnSync(process.execPath, [
  require.resolve('prebuildify/bin.js'), '--napi', '--name', `${name}.napi`, '--cwd', stage, '--out', root,
  '--node-gyp', path.join(root, 'scripts', 'prebuild-build.sh'),
], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('prebuildify failed: see the output above');
  process.exit(1);
}

const target = path.join(dir, `${name}.napi.node`);
if (!existsSync(target)) {
  console.error(`prebuildify did not write ${path.relative(root, target)}`);
  process.exit(1);
}
const info = require(target).buildInfo();
const cacheLine = readFileSync(path.join(root, 'build-prebuild', 'CMakeCache.txt'), 'utf8').match(/^SPO_CUDA_ENABLED:.*=(.*)$/m);
writeFileSync(path.join(dir, 'spo-diffusion.json'), `${JSON.stringify({
  torch: info.torchVersion, cudaKernels: info.cudaKernels, napi: info.napiVersion, cudaEnabled: cacheLine?.[1] ?? null,
}, null, 2)}\n`);
console.log(`prebuild: ${path.relative(root, target)} (libtorch ${info.torchVersion}, CUDA kernels ${info.cudaKernels})`);

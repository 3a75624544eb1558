// Copies the local build into prebuilds/<platform>-<arch>/ under the name
// node-gyp-build looks for, with a note of the libtorch it was built against.
import { copyFileSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = path.join(root, 'build', 'Release', 'spo_diffusion.node');
if (!existsSync(built)) {
  console.error('no local build: run `npm run build` first');
  process.exit(1);
}
const info = createRequire(import.meta.url)(built).buildInfo();
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(dir, { recursive: true });
const target = path.join(dir, 'spo-diffusion.napi.node');
copyFileSync(built, target);
const cacheLine = readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8').match(/^SPO_CUDA_ENABLED:.*=(.*)$/m);
writeFileSync(path.join(dir, 'spo-diffusion.json'), `${JSON.stringify({
  torch: info.torchVersion, cudaKernels: info.cudaKernels, napi: info.napiVersion, cudaEnabled: cacheLine?.[1] ?? null,
}, null, 2)}\n`);
console.log(`prebuild: ${path.relative(root, target)} (libtorch ${info.torchVersion}, CUDA kernels ${info.cudaKernels})`);

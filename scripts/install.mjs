// `npm install` hook of the published package: make sure a libtorch is
// linked (.libtorch), then use the prebuilt binary if it loads, and build from
// source if it does not. Loading is tried in a child process so that a binary
// that crashes on load can never take the installer down.
//
// A CUDA prebuild (prebuilds/<platform>-<arch>-cuda/, which node-gyp-build
// itself never picks) is built against one libtorch and CUDA version, named in
// its spo-diffusion.json. It is chosen only when the linked libtorch is that
// version with its CUDA libraries, a GPU is visible, and the binary loads in a
// child process with its CUDA kernels and a CUDA device; it is then copied to
// build/Release/ (where node-gyp-build looks first), never over a source build.
// SPO_NO_CUDA_PREBUILD=1 skips it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (m) => process.stderr.write(`spo-diffusion: ${m}\n`);

function run(cmd, args, extraEnv = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  return r.status === 0;
}

function loads() {
  const probe = `const a = require('node-gyp-build')(${JSON.stringify(root)});
    const s = new a.DDIMScheduler(); if (s.setTimesteps(20)[0] !== 951) process.exit(3);
    console.log(require('node-gyp-build').path(${JSON.stringify(root)}));`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8', timeout: 120000 });
  if (r.status === 0) return r.stdout.trim();
  log(`the native engine did not load: ${(r.stderr || r.signal || '').toString().split('\n').slice(0, 3).join(' ')}`);
  return null;
}

// The linked libtorch's version and CUDA version: torch/version.py in a wheel,
// build-version (e.g. 2.11.0+cu130) in a libtorch archive.
export function libtorchInfo(dir) {
  let version = null;
  let cuda = null;
  try {
    const text = readFileSync(path.join(dir, 'version.py'), 'utf8');
    version = text.match(/^__version__\s*=\s*['"]([^'"]+)['"]/m)?.[1] ?? null;
    cuda = text.match(/^cuda\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]/m)?.[1] ?? null;
  } catch {}
  if (!version) {
    try {
      version = readFileSync(path.join(dir, 'build-version'), 'utf8').trim();
    } catch {}
  }
  const local = version?.match(/\+cu(\d+)(\d)$/);
  if (!cuda && local) cuda = `${local[1]}.${local[2]}`;
  return { version: version?.split('+')[0] ?? null, cuda, cudaLibraries: existsSync(path.join(dir, 'lib', 'libtorch_cuda.so')) };
}

export function gpuVisible() {
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 30000 });
  return (r.status === 0 && /GPU \d/.test(r.stdout)) || existsSync('/dev/nvidia0');
}

export function tryCudaPrebuild() {
  if (process.env.SPO_NO_CUDA_PREBUILD) return false;
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}-cuda`);
  const file = path.join(dir, 'spo-diffusion.napi.node');
  if (!existsSync(file)) return false;
  const release = path.join(root, 'build', 'Release');
  const marker = path.join(release, '.spo-cuda-prebuild');
  if (existsSync(path.join(release, 'spo_diffusion.node')) && !existsSync(marker)) return false;  // a source build
  let want;
  try {
    want = JSON.parse(readFileSync(path.join(dir, 'spo-diffusion.json'), 'utf8'));
  } catch {
    return false;
  }
  const have = libtorchInfo(path.join(root, '.libtorch'));
  const why = !have.cudaLibraries ? 'the linked libtorch has no CUDA libraries'
    : have.version !== want.torch ? `it is for libtorch ${want.torch}, not ${have.version}`
      : have.cuda !== want.cuda ? `it is for CUDA ${want.cuda}, the libtorch has ${have.cuda}`
        : !gpuVisible() ? 'no GPU is visible' : null;
  if (why) {
    log(`not using the CUDA prebuild: ${why}`);
    return false;
  }
  const probe = `const a = require(${JSON.stringify(file)}); const b = a.buildInfo();
    if (!b.cudaKernels || !b.cudaAvailable) process.exit(4);
    const s = new a.DDIMScheduler(); if (s.setTimesteps(20)[0] !== 951) process.exit(3);`;
  const r = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) {
    log(`not using the CUDA prebuild: it did not load with CUDA (${r.status === 4 ? 'no CUDA device or kernels' : (r.stderr || r.signal || '').toString().split('\n').slice(0, 3).join(' ')})`);
    return false;
  }
  mkdirSync(release, { recursive: true });
  copyFileSync(file, path.join(release, 'spo_diffusion.node'));
  writeFileSync(marker, `${JSON.stringify(want)}\n`);
  return true;
}

function dropCudaPrebuild() {
  const release = path.join(root, 'build', 'Release');
  if (existsSync(path.join(release, '.spo-cuda-prebuild'))) {
    rmSync(path.join(release, 'spo_diffusion.node'), { force: true });
    rmSync(path.join(release, '.spo-cuda-prebuild'), { force: true });
  }
}

// SPO_INSTALL_NO_RUN=1: import the helpers without installing (tests).
if (!process.env.SPO_INSTALL_NO_RUN) main();

function main() {
  if (!run('bash', ['scripts/ensure-libtorch.sh'])) {
    log('could not provide libtorch; set LIBTORCH to a libtorch root and reinstall');
    process.exit(1);
  }
  let loaded = null;
  if (!process.env.SPO_BUILD_FROM_SOURCE) {
    if (tryCudaPrebuild()) {
      loaded = loads();
      if (loaded) log('using the CUDA prebuild');
      else dropCudaPrebuild();
    } else {
      dropCudaPrebuild();  // a CUDA prebuild chosen earlier that no longer matches
    }
    loaded ??= loads();
  }
  if (loaded) {
    log(`using ${path.relative(root, loaded)}`);
  } else {
    log('building the native engine from source (cmake-js)');
    if (!run('bash', ['scripts/build-native.sh'], { SPO_BUILD_TESTS: 'OFF' }) || !(loaded = loads())) {
      log('the source build failed; see the output above');
      process.exit(1);
    }
    log(`built ${path.relative(root, loaded)}`);
  }
}

// `npm install` hook of the published package: make sure a libtorch is
// linked (.libtorch), then use the prebuilt binary if it loads, and build from
// source if it does not. Loading is tried in a child process so that a binary
// that crashes on load can never take the installer down.
import { spawnSync } from 'node:child_process';
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

if (!run('bash', ['scripts/ensure-libtorch.sh'])) {
  log('could not provide libtorch; set LIBTORCH to a libtorch root and reinstall');
  process.exit(1);
}
let loaded = process.env.SPO_BUILD_FROM_SOURCE ? null : loads();
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

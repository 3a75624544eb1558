// Removes compiled files in dist/ whose TypeScript source in lib/ no longer
// exists (tsc's incremental build never deletes outputs). A stale dist/x.js
// would otherwise shadow a module that moved to lib/x/index.ts, because Node
// resolves require('./x') to x.js before x/index.js.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const lib = path.join(root, 'lib');
const outputs = /\.(d\.ts|js|js\.map|d\.ts\.map)$/;

function prune(dir) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) {
      prune(file);
      continue;
    }
    if (!outputs.test(name)) continue;  // the generated ESM entries (.mjs, .d.mts) follow index.js
    const source = path.join(lib, path.relative(dist, file).replace(outputs, '.ts'));
    if (!existsSync(source)) {
      rmSync(file);
      process.stderr.write(`spo-diffusion: removed stale ${path.relative(root, file)}\n`);
    }
  }
}
prune(dist);

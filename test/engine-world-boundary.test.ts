// The engine knows no world: no module of the engine (every lib/ module
// outside lib/world/ and lib/cli/, the addon's typing included) imports from lib/world/. The world builds on the engine and
// types its own part of the addon (lib/world/native-world.ts); the CLI, an
// application of both, may import either.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const lib = path.resolve(__dirname, '..', 'lib');

/** The module paths a TypeScript source imports or re-exports (static and type-only forms alike). */
function importedPaths(source: string): string[] {
  return [...source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

describe('engine and world', () => {
  it('reads import and export paths, type-only ones included', () => {
    const source = "import type { A } from './world/pretraining';\nimport { b } from '../x';\nexport * from './world';\nconst s = 'from \\'./y\\'';\n";
    expect(importedPaths(source)).toEqual(['./world/pretraining', '../x', './world']);
  });

  it('no engine module imports from lib/world/', () => {
    // The engine's modules, in any folder of lib/ but world/ (the world) and cli/ (an application of both).
    const engine = readdirSync(lib, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !/^(world|cli)(\/|$)/.test(f) && statSync(path.join(lib, f)).isFile());
    expect(engine).toContain(path.join('native', 'native-types.ts'));
    const world = path.join(lib, 'world');
    const offenders = engine.flatMap((f) => importedPaths(readFileSync(path.join(lib, f), 'utf8'))
      .filter((p) => p.startsWith('.'))
      .filter((p) => { const to = path.resolve(lib, path.dirname(f), p); return to === world || to.startsWith(world + path.sep); })
      .map((p) => `${f}: ${p}`));
    expect(offenders).toEqual([]);
  });
});

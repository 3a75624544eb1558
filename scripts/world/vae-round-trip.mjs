// World v2's suitability check 1 (docs/SHAPES_WORLD.md, "Suitability checks"):
// does a pretrained VAE keep what judge v2 reads? Renders of validation
// prompts, clean and with each defect alone, are judged as drawn and after
// encode + decode (the posterior mean); each defect's own part must keep at
// least half of its drop, and clean renders a total of at least 0.9.
//   node scripts/world/vae-round-trip.mjs --vae DIR/base/vae [--renders 200]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { VAE } = await import(path.join(root, 'dist/index.js'));
const { worldPrompts, renderWorld, judgeWorld, WORLD_DEFECTS } = await import(path.join(root, 'dist/world/index.js'));

const { values } = parseArgs({ options: { vae: { type: 'string' }, renders: { type: 'string', default: '200' } } });
const renders = Number(values.renders);
if (!values.vae || !Number.isInteger(renders) || renders < 1) {
  process.stderr.write('usage: vae-round-trip.mjs --vae <vae folder> [--renders N >= 1]\n');
  process.exit(2);
}
// Which of judge v2's parts reads each defect (native/core/world/v2_defects.h).
const PART = {
  'colour-cast': 'coarse', desaturation: 'coarse', 'cut-by-border': 'coarse', 'wrong-size': 'coarse', merged: 'coarse',
  'missing-object': 'alignment', 'extra-object': 'alignment', blur: 'fine', grain: 'fine', jagged: 'fine', texture: 'fine',
};
const vae = await VAE.load(values.vae);
const prompts = worldPrompts('validation', 'scenes');
const stack = (ts) => ({ data: Float32Array.from(ts.flatMap((t) => Array.from(t.data))), shape: [ts.length, ...ts[0].shape] });
const mean = (scores, part) => scores.reduce((s, v) => s + v[part], 0) / scores.length;

async function judged(defects) {
  const ps = Array.from({ length: renders }, (_, i) => prompts[(i * 7) % prompts.length]);
  const images = stack(ps.map((p, i) => renderWorld(p, 32, 1000 + i, { track: 'scenes', defects })));
  const decoded = await vae.decode((await vae.encode(images)).mean);
  return { drawn: judgeWorld(images, ps, 'scenes'), roundTrip: judgeWorld(decoded, ps, 'scenes') };
}

const clean = await judged([]);
const cleanTotal = mean(clean.roundTrip, 'total');
console.log(`clean renders: total ${mean(clean.drawn, 'total').toFixed(3)} drawn, ${cleanTotal.toFixed(3)} after the round trip` +
  ` (alignment ${mean(clean.roundTrip, 'alignment').toFixed(3)}, coarse ${mean(clean.roundTrip, 'coarse').toFixed(3)},` +
  ` fine ${mean(clean.roundTrip, 'fine').toFixed(3)}): ${cleanTotal >= 0.9 ? 'pass' : 'FAIL'} (>= 0.9)`);
let failed = cleanTotal < 0.9;
for (const defect of WORLD_DEFECTS) {
  const part = PART[defect];
  const r = await judged([defect]);
  const drawn = mean(clean.drawn, part) - mean(r.drawn, part);
  const kept = (mean(clean.roundTrip, part) - mean(r.roundTrip, part)) / drawn;
  failed ||= kept < 0.5;
  console.log(`${defect.padEnd(15)} ${part.padEnd(9)} drop ${drawn.toFixed(3)} drawn, kept ${kept.toFixed(2)} after the round trip: ` +
    `${kept >= 0.5 ? 'pass' : 'FAIL'} (>= 0.5)`);
}
vae.dispose();
process.exitCode = failed ? 1 : 0;

// Preference pairs converted for the engine (stacked image tensors and
// preference probabilities): shared by the Evaluator and the baselines, and
// not part of the package's API (lib/index.ts does not re-export this module).
import { InvalidArgumentError } from '../runtime/errors';
import { Image, imagesToTensor } from '../runtime/image';
import type { NativePairSet } from './native-types';
import type { PreferencePair } from '../training/pairs';

/** Pairs as the engine takes them: stacked image tensors and preference probabilities. */
export function toNativePairs(pairs: readonly PreferencePair[], what: string): NativePairSet {
  if (!Array.isArray(pairs) || pairs.length === 0) throw new InvalidArgumentError(`${what} must be a non-empty array of pairs`);
  const preferred0 = pairs.map((p, i) => {
    if (typeof p !== 'object' || p === null) throw new InvalidArgumentError(`${what}[${i}] must be a pair object`);
    if (typeof p.prompt !== 'string') throw new InvalidArgumentError(`${what}[${i}].prompt must be a string`);
    if (!(p.image0 instanceof Image) || !(p.image1 instanceof Image)) {
      throw new InvalidArgumentError(`${what}[${i}]: image0 and image1 must be Image objects`);
    }
    if (p.label === 0) return 1;
    if (p.label === 1) return 0;
    if (p.label === 'tie') return 0.5;
    throw new InvalidArgumentError(`${what}[${i}].label must be 0, 1 or 'tie'`);
  });
  try {
    return {
      prompts: pairs.map((p) => p.prompt),
      images0: imagesToTensor(pairs.map((p) => p.image0)),
      images1: imagesToTensor(pairs.map((p) => p.image1)),
      preferred0,
    };
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new InvalidArgumentError(`${what}: ${e.message}`, { cause: e });
    throw e;
  }
}

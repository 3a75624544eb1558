// The prompts a suitability check may read: the scenes track's validation or
// train split, never the test split (docs/SHAPES_WORLD.md: the criteria were
// fixed before the test split was read, and it is read once per final run).
import { worldPrompts, worldSplitOf } from '../world';

export class TestSplitRefused extends Error {
  override name = 'TestSplitRefused';
}

/** Throws TestSplitRefused when any prompt is a test prompt of the scenes track. */
export function refuseTestPrompts(prompts: string[]): string[] {
  const test = prompts.filter((p) => worldSplitOf(p, 'scenes') === 'test');
  if (test.length > 0) {
    throw new TestSplitRefused(`suitability checks read train or validation prompts only; ${test.length} test prompt(s), ` +
      `e.g. "${test[0]}"`);
  }
  return prompts;
}

/**
 * `count` prompts of `split` spread evenly over its fixed order (so the mix of
 * one-, two- and three-object prompts is kept), checked against the test split.
 * RangeError for a count outside [1, the split's size].
 */
export function promptsOf(split: string, count: number): string[] {
  if (split !== 'validation' && split !== 'train') {
    throw new TestSplitRefused(`--split must be 'validation' or 'train', not '${split}': the test split is read once per ` +
      'final run, never by a suitability check');
  }
  const all = worldPrompts(split, 'scenes');
  if (!Number.isInteger(count) || count < 1 || count > all.length) {
    throw new RangeError(`prompt count must be an integer in [1, ${all.length}], got ${count}`);
  }
  return refuseTestPrompts(Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]!));
}

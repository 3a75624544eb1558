// The statistics behind the suitability figures, on plain numbers (no models),
// so that a test can check each one against a hand computation.

import { interval, type Interval } from '../evaluation';

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The unbiased sample variance (n - 1); 0 for a single value. */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
}

/**
 * The pooled within-group standard deviation: sqrt of the mean over groups of
 * each group's unbiased variance (groups of equal size: the usual pooled sd).
 */
export function pooledWithinSd(groups: readonly (readonly number[])[]): number {
  return Math.sqrt(mean(groups.map(variance)));
}

/** The share of groups whose largest and smallest value differ by more than `margin`. */
export function shareSpreadBeyond(groups: readonly (readonly number[])[], margin: number): number {
  return groups.filter((g) => Math.max(...g) - Math.min(...g) > margin).length / groups.length;
}

/**
 * How much of a part's variance is still open at x_t (law of total variance):
 * E[Var(part | x_t)] / Var(part | prompt). `branches`: for every shared x_t, the
 * part's values of the trajectories branched from it; `independent`: for every
 * prompt, the part's values of independent samples. Both means are of unbiased
 * variances, so the ratio estimates the share without a small-sample bias in
 * either term.
 */
export function shareOpen(branches: readonly (readonly number[])[], independent: readonly (readonly number[])[]): number {
  return mean(branches.map(variance)) / mean(independent.map(variance));
}

/** A group of candidates: what a reading says of each, and how each ended. */
export interface ReadingGroup {
  reading: readonly number[];
  outcome: readonly number[];
}

/**
 * Whether a reading agrees with the outcome on the decided pairs of each group:
 * every pair (i < j) whose outcomes differ by more than `margin` counts, scoring
 * 1 when the readings order it the same way, 0 the other way, 1/2 when the
 * readings are equal (a guess). agreement is NaN without a decided pair.
 */
export function agreement(groups: readonly ReadingGroup[], margin: number): { pairs: number; agreement: number } {
  let pairs = 0, agreed = 0;
  for (const { reading, outcome } of groups) {
    for (let i = 0; i < outcome.length; ++i) {
      for (let j = i + 1; j < outcome.length; ++j) {
        const d = outcome[i]! - outcome[j]!;
        if (!(Math.abs(d) > margin)) continue;
        const r = reading[i]! - reading[j]!;
        pairs += 1;
        agreed += r === 0 ? 0.5 : Math.sign(r) === Math.sign(d) ? 1 : 0;
      }
    }
  }
  return { pairs, agreement: pairs === 0 ? NaN : agreed / pairs };
}

/** A paired difference's mean and 95% interval (evaluation.ts's Interval). */
export type PairedInterval = Interval;

/** Mean and 95% half-width of after - before, paired. */
export function pairedInterval(before: readonly number[], after: readonly number[]): PairedInterval {
  return interval(after.map((a, i) => a - before[i]!));
}

export type TimestepBand = 'final' | '1-299' | '300-599' | '600-999';

/** The band of a candidate's timestep that check 4 reports: final (clean), 1-299, 300-599, 600-999. */
export function band(t: number): TimestepBand {
  if (t < 1) return 'final';
  if (t < 300) return '1-299';
  if (t < 600) return '300-599';
  return '600-999';
}

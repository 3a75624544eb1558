// A suitability figure against its criterion, a check's verdict, and the lines
// the command prints. pass: true / false, or null for a figure that is
// reported without a criterion or could not be read (too few pairs).

export interface Figure {
  name: string;
  value: number | string;
  criterion: string;
  pass: boolean | null;
}

/** One check's outcome as every check returns it. */
export interface CheckResult {
  check: number;
  title: string;
  figures: Figure[];
  notes: string[];
  seconds: number;
}

export type Verdict = 'PASS' | 'FAIL' | 'UNREAD';

export function atLeast(name: string, value: number, bound: number, digits = 3): Figure {
  return { name, value, criterion: `>= ${round(bound, digits)}`, pass: Number.isFinite(value) ? value >= bound : false };
}

export function above(name: string, value: number, bound: number, digits = 3): Figure {
  return { name, value, criterion: `> ${round(bound, digits)}`, pass: Number.isFinite(value) ? value > bound : false };
}

export function lessThan(name: string, value: number, other: number, otherName: string, digits = 3): Figure {
  return {
    name, value, criterion: `< ${otherName} (${round(other, digits)})`,
    pass: Number.isFinite(value) && Number.isFinite(other) ? value < other : false,
  };
}

/** A figure shown for context, no criterion. */
export function reported(name: string, value: number | string, detail?: string): Figure {
  return { name, value, criterion: detail ?? '(reported)', pass: null };
}

/** FAIL if any figure fails, PASS if every figure with a criterion passes, UNREAD if none has one. */
export function verdict(check: Pick<CheckResult, 'figures'>): Verdict {
  if (check.figures.some((f) => f.pass === false)) return 'FAIL';
  return check.figures.some((f) => f.pass === true) ? 'PASS' : 'UNREAD';
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));
const show = (v: number | string) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v));

/** One line per figure, then the check's verdict. */
export function formatCheck(check: CheckResult): string {
  const lines = [`check ${check.check}: ${check.title} (${check.seconds.toFixed(0)} s)`];
  for (const f of check.figures) {
    const mark = f.pass === true ? 'PASS' : f.pass === false ? 'FAIL' : '    ';
    lines.push(`  ${mark}  ${f.name.padEnd(52)} ${show(f.value).padStart(8)}   ${f.criterion}`);
  }
  for (const note of check.notes ?? []) lines.push(`        ${note}`);
  lines.push(`  check ${check.check}: ${verdict(check)}`);
  return lines.join('\n');
}

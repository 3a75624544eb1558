// A suitability figure against its criterion, a check's verdict, and the lines
// the command prints. pass: true / false, or null for a figure that is
// reported without a criterion or could not be read (too few pairs).

export function atLeast(name, value, bound, digits = 3) {
  return { name, value, criterion: `>= ${round(bound, digits)}`, pass: Number.isFinite(value) ? value >= bound : false };
}

export function above(name, value, bound, digits = 3) {
  return { name, value, criterion: `> ${round(bound, digits)}`, pass: Number.isFinite(value) ? value > bound : false };
}

export function lessThan(name, value, other, otherName, digits = 3) {
  return {
    name, value, criterion: `< ${otherName} (${round(other, digits)})`,
    pass: Number.isFinite(value) && Number.isFinite(other) ? value < other : false,
  };
}

/** A figure shown for context, no criterion. */
export function reported(name, value, detail) {
  return { name, value, criterion: detail ?? '(reported)', pass: null };
}

/** FAIL if any figure fails, PASS if every figure with a criterion passes, UNREAD if none has one. */
export function verdict(check) {
  if (check.figures.some((f) => f.pass === false)) return 'FAIL';
  return check.figures.some((f) => f.pass === true) ? 'PASS' : 'UNREAD';
}

const round = (v, digits) => Number(v.toFixed(digits));
const show = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v));

/** One line per figure, then the check's verdict. */
export function formatCheck(check) {
  const lines = [`check ${check.check}: ${check.title} (${check.seconds.toFixed(0)} s)`];
  for (const f of check.figures) {
    const mark = f.pass === true ? 'PASS' : f.pass === false ? 'FAIL' : '    ';
    lines.push(`  ${mark}  ${f.name.padEnd(52)} ${show(f.value).padStart(8)}   ${f.criterion}`);
  }
  for (const note of check.notes ?? []) lines.push(`        ${note}`);
  lines.push(`  check ${check.check}: ${verdict(check)}`);
  return lines.join('\n');
}

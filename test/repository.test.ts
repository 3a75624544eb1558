// The repository stands on its own: no tracked file reaches outside the clone
// (a sibling "shared" folder, the development machine's work folder, a fixed temp
// name). A clone with nothing beside it must build, test and explain itself.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const SHARED = ['..', 'shared'].join('/'), WORK = ['', 'work', ''].join('/'), TMP = ['', 'tmp', ''].join('/');

// The sibling "shared" folder anywhere; the work folder or a temp name as the start of a path
// (after a space, a quote, a backtick, a parenthesis, '=' or ':'), so a path inside another
// path or a URL is not one.
// The examples below are spelled from parts (SHARED, WORK, TMP) so that this file
// does not itself name such a path: checks that grep the repository stay quiet.
const outsidePath = /\.\.\/shared|(^|[\s"'`(=:])\/work\/|(^|[\s"'`(=:])\/tmp\/[\w.]/m;

// Files that may name such paths: npm's lock file records registry metadata.
const exempt = new Set(['package-lock.json']);

function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  return out.split('\0').filter((f) => f !== '' && !exempt.has(f));
}

function hits(file: string): string[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path.join(root, file));
  } catch {
    return []; // tracked but deleted in the work tree (a move in progress)
  }
  if (bytes.includes(0)) return []; // binary (weights, images), as git decides
  return bytes.toString('utf8').split('\n').flatMap((line, i) => (outsidePath.test(line) ? [`${file}:${i + 1}: ${line.trim().slice(0, 120)}`] : []));
}

describe('repository', () => {
  it('recognises paths outside the clone and nothing else', () => {
    for (const s of [`see ${SHARED}/x`, `cd ${WORK}main`, `"${TMP}spo-x"`, `out=${TMP}abc`, `dir:${WORK}a`, `(${TMP}models)`,
      `run \`${TMP}x.sh\``, `cd \`${WORK}main\``, ` ${TMP}X1`, ` ${TMP}_cache`, ` ${TMP}.spo`]) {
      expect(outsidePath.test(s), s).toBe(true);
    }
    for (const s of [`a${TMP}b`, `https://h${WORK}x`, 'docs/method.md', '$TMPDIR/x', 'os.tmpdir()', `${TMP}$USER`]) {
      expect(outsidePath.test(s), s).toBe(false);
    }
  });

  it('has no tracked file that names a path outside the clone (the shared sibling, the work folder, a temp name)', () => {
    const files = trackedFiles();
    expect(files).toContain('README.md');
    const found = files.flatMap(hits);
    expect(found).toEqual([]);
  });
});

// The repository stands on its own: no tracked file reaches outside the clone
// (a sibling ../shared folder, the development machine's /work, a fixed /tmp
// name). A clone with nothing beside it must build, test and explain itself.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

// ../shared anywhere; /work/ or /tmp/<name> as the start of a path (after a
// space, a quote, a backtick, a parenthesis, '=' or ':'), so "a/tmp/b" or a URL path is not one.
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
    for (const s of ['see ../shared/x', 'cd /work/main', '"/tmp/spo-x"', 'out=/tmp/abc', 'dir:/work/a', '(/tmp/models)',
      'run `/tmp/x.sh`', 'cd `/work/main`', ' /tmp/X1', ' /tmp/_cache', ' /tmp/.spo']) {
      expect(outsidePath.test(s), s).toBe(true);
    }
    for (const s of ['a/tmp/b', 'https://h/work/x', 'docs/method.md', '$TMPDIR/x', 'os.tmpdir()', '/tmp/$USER']) {
      expect(outsidePath.test(s), s).toBe(false);
    }
  });

  it('has no tracked file that names a path outside the clone (../shared, /work/, /tmp/<name>)', () => {
    const files = trackedFiles();
    expect(files).toContain('README.md');
    const found = files.flatMap(hits).filter((h) => !h.startsWith('test/repository.test.ts:'));
    expect(found).toEqual([]);
  });
});

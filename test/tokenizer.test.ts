// Tokenizer from TypeScript against transformers' CLIPTokenizer: the ids that
// test/python/make_text_fixtures.py recorded from transformers for the same files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, InvalidArgumentError, SpoError, Tokenizer } from '../lib/index';

const root = path.resolve(__dirname, '..');
const fixtures = mkdtempSync(path.join(os.tmpdir(), 'spo-tok-'));
type Cases = Record<string, { pad_id: number; bos_id: number; eos_id: number; cases: { prompt: string; input_ids: number[]; ids: number[] }[] }>;
let cases: Cases;

beforeAll(() => {
  const r = spawnSync(path.join(root, '.venv', 'bin', 'python'), [path.join(root, 'test', 'python', 'make_text_fixtures.py'), fixtures], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fixture generation failed: ${r.stderr}`);
  cases = JSON.parse(readFileSync(path.join(fixtures, 'cases.json'), 'utf8'));
});

afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

describe('Tokenizer', () => {
  for (const layout of ['clip', 'clip_pad_bang', 'clip_legacy']) {
    it(`matches transformers on every recorded prompt (${layout})`, async () => {
      const tok = await Tokenizer.load(path.join(fixtures, layout));
      const expected = cases[layout]!;
      expect(tok.info).toMatchObject({ bosId: expected.bos_id, eosId: expected.eos_id, padId: expected.pad_id, modelMaxLength: 77 });
      expect(expected.cases.length).toBeGreaterThan(40);
      for (const c of expected.cases) {
        expect(tok.encode(c.prompt), c.prompt).toEqual(c.ids);
        expect(tok.encodePadded(c.prompt), c.prompt).toEqual(c.input_ids);
      }
      const batch = tok.encodeBatch(expected.cases.map((c) => c.prompt));
      expect(batch.shape).toEqual([expected.cases.length, 77]);
      expect(Array.from(batch.data.subarray(77, 154))).toEqual(expected.cases[1]!.input_ids);
    });
  }

  it('pads to 77 with BOS first and EOS kept last when truncating', async () => {
    const tok = await Tokenizer.load(path.join(fixtures, 'clip'));
    const long = tok.encodePadded('a photo of a cat '.repeat(40));
    expect(long).toHaveLength(77);
    expect(long[0]).toBe(tok.info.bosId);
    expect(long[76]).toBe(tok.info.eosId);
    expect(tok.encodePadded('', 5)).toEqual([tok.info.bosId, tok.info.eosId, tok.info.padId, tok.info.padId, tok.info.padId]);
  });

  it('refuses bad input and missing files with typed errors', async () => {
    await expect(Tokenizer.load(path.join(fixtures, 'nope'))).rejects.toMatchObject({ code: 'ERR_SPO_NOT_FOUND' });
    await expect(Tokenizer.load(42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    const tok = await Tokenizer.load(path.join(fixtures, 'clip'));
    expect(() => tok.encode(5 as never)).toThrow(InvalidArgumentError);
    expect(() => tok.encodePadded('x', 1)).toThrow(InvalidArgumentError);
    expect(() => tok.encodeBatch('x' as never)).toThrow(InvalidArgumentError);
    tok.dispose();
    expect(() => tok.encode('x')).toThrow(DisposedError);
    expect(new DisposedError('x')).toBeInstanceOf(SpoError);
  });

  it('keeps working when dispose() is called from a getter in the middle of encodeBatch', async () => {
    const tok = await Tokenizer.load(path.join(fixtures, 'clip'));
    const expected = tok.encodePadded('a photo of a cat');
    global.gc?.(); // let the loader's handle go, so the tokenizer's only owner is the instance
    const texts: string[] = [];
    Object.defineProperty(texts, 0, { enumerable: true, get() { tok.dispose(); return 'a photo of a cat'; } });
    const batch = tok.encodeBatch(texts);
    expect(Array.from(batch.data)).toEqual(expected);
    expect(() => tok.encode('x')).toThrow(DisposedError);
  });
});

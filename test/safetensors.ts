// A minimal safetensors reader for the tests (reference outputs written by
// test/python): 8-byte little-endian header length, JSON header, raw data.
import { readFileSync } from 'node:fs';

export interface StoredTensor {
  dtype: string;
  shape: number[];
  bytes: Buffer;
}

export function readSafetensors(path: string): Map<string, StoredTensor> {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string, { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = file.subarray(8 + headerLength);
  const out = new Map<string, StoredTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets;
    out.set(name, { dtype: entry.dtype, shape: entry.shape, bytes: data.subarray(begin, end) });
  }
  return out;
}

function get(file: Map<string, StoredTensor>, name: string, dtype: string): StoredTensor {
  const t = file.get(name);
  if (!t) throw new Error(`no tensor '${name}' in the reference file`);
  if (t.dtype !== dtype) throw new Error(`'${name}' is ${t.dtype}, expected ${dtype}`);
  return t;
}

/** An F32 tensor as { data, shape } (copied: aligned, owned). */
export function f32(file: Map<string, StoredTensor>, name: string): { data: Float32Array; shape: number[] } {
  const t = get(file, name, 'F32');
  const data = new Float32Array(t.bytes.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = t.bytes.readFloatLE(4 * i);
  return { data, shape: t.shape };
}

/** An I64 tensor of token ids as Int32Array + shape (the ids fit in 32 bits). */
export function i64AsI32(file: Map<string, StoredTensor>, name: string): { data: Int32Array; shape: number[] } {
  const t = get(file, name, 'I64');
  const data = new Int32Array(t.bytes.length / 8);
  for (let i = 0; i < data.length; i++) data[i] = Number(t.bytes.readBigInt64LE(8 * i));
  return { data, shape: t.shape };
}

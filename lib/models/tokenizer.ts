// The CLIP BPE tokenizer of a Stable Diffusion text encoder, read from a
// Hugging Face tokenizer directory (vocab.json + merges.txt, and
// tokenizer_config.json / special_tokens_map.json when present). The token
// ids match transformers' CLIPTokenizer for the same files.
import { captureCallSite } from '../runtime/errors';
import { callSync, runJob, type JobOptions } from '../runtime/jobs';
import { Handle } from './model-handle';
import { native } from '../native/native';
import type { NativeTokenizer } from '../native/native-types';

export interface TokenizerInfo {
  bosId: number;
  eosId: number;
  /** "<|endoftext|>" for SD-1.5's tokenizer, "!" for SDXL's tokenizer_2. */
  padId: number;
  unkId: number;
  vocabSize: number;
  modelMaxLength: number;
}

export class Tokenizer extends Handle<NativeTokenizer> {
  private constructor(handle: NativeTokenizer) {
    super(handle, 'Tokenizer');
  }

  /** Reads a tokenizer directory (the `tokenizer` or `tokenizer_2` folder of a diffusers pipeline). */
  static async load(dir: string, options?: JobOptions): Promise<Tokenizer> {
    const site = captureCallSite(Tokenizer.load);
    const handle = await runJob(site, options, (token, onProgress) => native().loadTokenizer(dir, token, onProgress));
    return new Tokenizer(handle);
  }

  get info(): TokenizerInfo {
    return callSync(() => this.handle().info);
  }

  /** Token ids of `text` without BOS, EOS or padding. */
  encode(text: string): number[] {
    return callSync(() => this.handle().encode(text));
  }

  /** [BOS, ...ids (truncated), EOS, PAD, ...]: exactly `maxLength` ids, as the text encoders take them. */
  encodePadded(text: string, maxLength = 77): number[] {
    return callSync(() => this.handle().encodePadded(text, maxLength));
  }

  /** encodePadded for each text, as one [texts.length, maxLength] array. */
  encodeBatch(texts: string[], maxLength = 77): { data: Int32Array; shape: [number, number] } {
    return callSync(() => this.handle().encodeBatch(texts, maxLength));
  }
}

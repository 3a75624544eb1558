// TextEncoder: transformers' CLIPTextModel (SD-1.5 `text_encoder`, SDXL
// `text_encoder`) or CLIPTextModelWithProjection (SDXL `text_encoder_2`),
// whichever the directory holds, with a plain forward on token ids.
import { captureCallSite } from '../runtime/errors';
import { runJob, type JobOptions } from '../runtime/jobs';
import { ModelHandle, loadModel, type ModelLoadOptions } from './model-handle';
import { native } from '../native/native';
import type { NativeTextEncoder } from '../native/native-types';
import type { Tensor } from '../runtime/tensor';

export interface TextEncoderConfig {
  /** From config.json's architectures, else from whether the weights hold text_projection. */
  architecture: 'CLIPTextModel' | 'CLIPTextModelWithProjection';
  vocabSize: number;
  hiddenSize: number;
  /** Width of textEmbeds (projection model only, else null). */
  projectionDim: number | null;
  numHiddenLayers: number;
  maxPositionEmbeddings: number;
  eosTokenId: number;
}

/** Token ids [B, L], row-major: what Tokenizer.encodeBatch returns. */
export interface InputIds {
  data: Int32Array;
  shape: readonly number[];
}

export interface TextEncoderOutput {
  /** [B, L, hiddenSize] after the final layer norm: SD-1.5's conditioning. */
  lastHiddenState: Tensor;
  /** [B, L, hiddenSize], the last layer's input, without the final norm: SDXL's conditioning. */
  penultimateHiddenState: Tensor;
  /** [B, hiddenSize]: the final-normed state at each row's EOS position. */
  pooled: Tensor;
  /** [B, projectionDim] = text_projection(pooled): projection model only (SDXL's textEmbeds). */
  textEmbeds?: Tensor;
}

export class TextEncoder extends ModelHandle<NativeTextEncoder, TextEncoderConfig> {
  private constructor(handle: NativeTextEncoder) {
    super(handle, 'TextEncoder');
  }

  /** Reads a transformers CLIP text model directory (config.json + model*.safetensors). */
  static async load(dir: string, options?: ModelLoadOptions): Promise<TextEncoder> {
    const site = captureCallSite(TextEncoder.load);
    const handle = await loadModel(site, options, (model, token, onProgress) => native().loadTextEncoder(dir, model, token, onProgress));
    return new TextEncoder(handle);
  }

  /** Ids in [0, vocabSize), 1 <= L <= maxPositionEmbeddings; no attention mask (SD passes none). */
  async forward(inputIds: InputIds, options?: JobOptions): Promise<TextEncoderOutput> {
    const site = captureCallSite(this.forward);
    return runJob(site, options, (token, onProgress) => this.handle().forward(inputIds, token, onProgress));
  }
}

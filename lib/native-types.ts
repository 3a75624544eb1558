// The native addon's surface, typed in one place. Only lib/ talks to it.
import type { GaussianSampleResult, StepOutput } from './scheduler';
import type { Tensor } from './tensor';
import type { TokenizerInfo } from './tokenizer';

export interface NativeProgress {
  stage: string;
  step: number;
  total: number;
  value: number;
}
export type NativeProgressCallback = ((p: NativeProgress) => void) | undefined;

export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

export type NativeStepResult = StepOutput;

export type NativeGaussianSample = GaussianSampleResult;

export interface NativeScheduler {
  setTimesteps(steps: number): number[];
  readonly timesteps: number[];
  readonly numInferenceSteps: number;
  readonly config: Record<string, unknown>;
  alphasCumprod(): Float32Array;
  betas(): Float32Array;
  prevTimestep(t: number): number;
  step(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeStepResult>;
  addNoise(x0: Tensor, noise: Tensor, t: number | number[], token?: NativeCancelToken,
           onProgress?: NativeProgressCallback): Promise<Tensor>;
  getVelocity(x0: Tensor, noise: Tensor, t: number | number[], token?: NativeCancelToken,
              onProgress?: NativeProgressCallback): Promise<Tensor>;
  sampleGaussian(args: object, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeGaussianSample>;
  dispose(): void;
}

export interface NativeTokenizer {
  encode(text: string): number[];
  encodePadded(text: string, maxLength?: number): number[];
  encodeBatch(texts: string[], maxLength?: number): { data: Int32Array; shape: [number, number] };
  readonly info: TokenizerInfo;
  dispose(): void;
}

export interface NativeBuildInfo {
  torchVersion: string;
  cudaKernels: boolean;
  cudaAvailable: boolean;
  cudaDevices: number;
  intraOpThreads: number;
  jobThreads: number;
  napiVersion: number;
}

export interface NativeAddon {
  CancelToken: new () => NativeCancelToken;
  DDIMScheduler: new (config?: object) => NativeScheduler;
  loadTokenizer(dir: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<NativeTokenizer>;
  buildInfo(): NativeBuildInfo;
  diagnostics: {
    steppedJob(steps: number, msPerStep: number, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<number>;
    failingJob(kind: string, token?: NativeCancelToken, onProgress?: NativeProgressCallback): Promise<void>;
  };
}

// Jobs that exercise the native job runner without engine work: a check that
// an installation's threads, progress, cancellation and error mapping work.
import { captureCallSite } from './errors';
import { runJob, type JobOptions } from './jobs';
import { native } from '../native/native';

export type NativeFailureKind = 'invalid' | 'torch' | 'oom' | 'std' | 'unknown';

export const diagnostics = {
  /** Runs `steps` steps of `msPerStep` each on the pool, reporting progress; resolves to the steps run. */
  steppedJob(steps: number, msPerStep: number, options?: JobOptions): Promise<number> {
    const site = captureCallSite(diagnostics.steppedJob);
    return runJob(site, options, (token, onProgress) => native().diagnostics.steppedJob(steps, msPerStep, token, onProgress));
  },
  /** Rejects with the error a native exception of `kind` becomes. */
  failingJob(kind: NativeFailureKind, options?: JobOptions): Promise<void> {
    const site = captureCallSite(diagnostics.failingJob);
    return runJob(site, options, (token, onProgress) => native().diagnostics.failingJob(kind, token, onProgress));
  },
  /** Native jobs of this thread submitted and not yet finished (queued or executing): 0 once every job has stopped. */
  runningJobs(): number {
    return native().diagnostics.runningJobs();
  },
};

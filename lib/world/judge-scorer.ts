// The shapes world's judge as SPO's step scorer (the oracle row): a StepScorer
// like the Evaluator, built by the engine (native/core/world/judge_scorer.h)
// for the track it is given.
import { InvalidArgumentError } from '../runtime/errors';
import { callSync } from '../runtime/jobs';
import type { NativeStepScorer } from '../native/native-types';
import { StepScorer } from '../training/step-scorer';
import { worldNative } from './native-world';
import { checkTrack, type WorldTrack } from './tracks';

/**
 * The world's judge used as SPO's step evaluator (pass it as a Trainer's
 * `evaluator`): an oracle that scores each candidate's decoded x0 prediction
 * by `scale` x the judge's total, at every timestep. It shows what SPO could
 * reach with an evaluator that agreed with the judge; `spo experiment`'s
 * "oracle" row.
 */
export class WorldJudgeScorer extends StepScorer {
  readonly scale: number;
  /** Whose judge: the relation judge (default) or judge v2 for the scenes track. */
  readonly track: WorldTrack;
  /**
   * Judge where each candidate leads instead of its x0 prediction: the
   * candidate is continued to t = 0 by deterministic DDIM under the current
   * model and the final image is judged (about 8x the sampling cost at the
   * preset). This is the signal the step-aware evaluator is meant to learn.
   */
  readonly rollout: boolean;
  constructor(scale = 10, options: { rollout?: boolean; track?: WorldTrack } = {}) {
    super();
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
      throw new InvalidArgumentError('WorldJudgeScorer: scale must be a finite number > 0');
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('WorldJudgeScorer: options must be an object');
    if (options.rollout !== undefined && typeof options.rollout !== 'boolean') {
      throw new InvalidArgumentError('WorldJudgeScorer: rollout must be a boolean');
    }
    this.scale = scale;
    this.rollout = options.rollout ?? false;
    this.track = checkTrack(options.track);
  }

  /** @internal The engine's judge scorer for this track (with rollout, it continues candidates under the run's pipeline). */
  override nativeStepScorer(): NativeStepScorer {
    return callSync(() => worldNative().worldJudgeScorer({ scale: this.scale, track: this.track, rollout: this.rollout }));
  }
}

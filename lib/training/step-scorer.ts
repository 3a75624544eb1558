// What a Trainer scores SPO's candidates with (docs/method.md §2): anything
// that hands the engine a native step scorer. The Evaluator is one; the shapes
// world's judge (spo-diffusion/world's WorldJudgeScorer) is another. The engine
// opens the handle for the run and never learns what is inside.
import type { NativeStepScorer } from '../native/native-types';

/**
 * A step scorer: a Trainer's `evaluator`. Scores are per (image, prompt,
 * timestep) on a logit scale; SPO's pair rule compares their softmax. Get one
 * from `Evaluator.load` or from a scorer another module builds on the engine.
 */
export abstract class StepScorer {
  /** @internal The engine's scorer handle, made fresh for each training run. */
  abstract nativeStepScorer(): NativeStepScorer;
}

// The pretraining of the shapes world's tiny models (native/core/pretraining/world_pretraining.h).
import { InvalidArgumentError, captureCallSite } from '../runtime/errors';
import { runJob, type JobOptions } from '../runtime/jobs';
import { withoutUndefined } from '../native/native-args';
import { worldNative } from './native-world';
import { toWorldPretrainingReport, type WorldPretrainingReport } from './pretraining-report';

export interface WorldPretrainingOptions {
  /**
   * Where the models go: base/ (a diffusers pipeline), evaluator-{plain,step-aware,step-agnostic}/
   * (with rolloutPrompts, evaluator-rollout/ and evaluator-rollout-agnostic/ in place of
   * evaluator-step-agnostic/), report.json.
   */
  outDir: string;
  seed?: number;
  /**
   * The base model's parametrisation, fixed when outDir is first made: 'epsilon'
   * (SD-1.5; the shipped models) or 'v_prediction' (SD-2.x), whose loss at high
   * noise rewards taking the layout from the prompt (docs/SHAPES_WORLD.md item 6).
   */
  prediction?: 'epsilon' | 'v_prediction';
  /**
   * Which world, fixed when outDir is first made: 'relations' (positions and
   * relations, clean renders; the shipped models) or 'scenes' (world v2: one to
   * three objects, training renders with coarse and fine defects, judge v2).
   */
  world?: 'relations' | 'scenes';
  /** Multiplies every stage's steps and sample counts (1 = the shipped models; tests use ~0.01). */
  scale?: number;
  /** VAE steps; default the world's own: relations 300, scenes 1000 (suitability check 1 needs them). */
  vaeSteps?: number;
  diffusionSteps?: number;
  /** Train prompts sampled and judged for the evaluators' pairs (default: relations 1500, scenes 1500). */
  pairPrompts?: number;
  /**
   * Samples per prompt for the pairs (2 to 64; default the world's own). Relations 2: one
   * pair per prompt, ties kept. Scenes 6: every untied pair of one prompt's samples
   * (up to 15 a prompt), each pass cached under outDir/work/pairs.
   */
  samplesPerPrompt?: number;
  clipSteps?: number;
  /**
   * Share of contrastive CLIP captions that name the defects their render carries
   * ("two red circles, blurry"), 0 to 1; default relations 0, scenes 0.5.
   */
  captionShare?: number;
  plainSteps?: number;
  noisySteps?: number;
  /** DDIM steps (eta 1, guidance 5) of the base samples and the pairs; default relations 10, scenes 20. */
  samplingSteps?: number;
  /** Validation prompts sampled and judged like the train prompts (at most 500; default relations 200, scenes 100). */
  validationPrompts?: number;
  /** Judge totals closer than this make a tied pair (0 to 1). */
  tieMargin?: number;
  plainLearningRate?: number;
  noisyLearningRate?: number;
  /**
   * Train prompts whose SPO sampling rounds make rollout pairs (k candidates from
   * one x_t, labelled by the judge on where each ends); > 0 adds the stages
   * rollout-pairs, evaluator-rollout (the step-aware model trained on them) and
   * evaluator-rollout-agnostic (its twin that never sees t: Table 4), labelled by
   * the world's own judge (judge v2 in the scenes world), and drops the
   * noisy-pair evaluator-step-agnostic, which no row would use.
   */
  rolloutPrompts?: number;
  /** Validation prompts for the rollout pairs (at most 500). */
  rolloutValidationPrompts?: number;
  rolloutSteps?: number;
  rolloutLearningRate?: number;
}

/**
 * Trains every tiny model of the shapes world from scratch (VAE, text encoder +
 * UNet, judge-labelled pairs, contrastive CLIP, plain / step-aware /
 * step-agnostic evaluators). A stage already finished in `outDir` is skipped.
 * Progress stages: vae, diffusion, sample, clip, train, validate.
 */
export async function pretrainWorld(options: WorldPretrainingOptions, jobOptions?: JobOptions): Promise<WorldPretrainingReport> {
  const site = captureCallSite(pretrainWorld);
  if (typeof options !== 'object' || options === null || typeof options.outDir !== 'string' || options.outDir === '') {
    throw new InvalidArgumentError('pretrainWorld needs options.outDir');
  }
  const args = withoutUndefined(options);
  return toWorldPretrainingReport(await runJob(site, jobOptions, (token, progress) => worldNative().pretrainWorld(args, token, progress)));
}

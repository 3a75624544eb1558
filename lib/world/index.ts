// spo-diffusion/world: the shapes world (docs/SHAPES_WORLD.md), the package's
// built-in miniature text-to-image problem, in two tracks. A module of its
// own on top of the engine: the engine's public API (spo-diffusion) knows no
// world; the world's judge reaches a Trainer as a StepScorer like any other.
export * from './tracks';
export * from './world';
export * from './judge-scorer';
export * from './pretraining';
export * from './pretraining-report';
export * from './evaluation';
export * from './prompt-forms';
export * as suitability from './suitability';

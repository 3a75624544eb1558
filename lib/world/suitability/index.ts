// World v2's suitability checks (docs/SHAPES_WORLD.md, "Suitability checks:
// criteria fixed before any test-split run"), exported from spo-diffusion/world
// as the namespace `suitability`: the statistics, each check's figures from
// judged values, the checks on a models folder, and the loop that runs them
// (scripts/world/suitability.mjs is its command line).
export * from './stats';
export * from './report';
export * from './parts';
export * from './prompts';
export * from './trajectories';
export * from './check2-room';
export * from './check3-decided';
export * from './check4-x0';
export * from './check5-evaluator';
export * from './check6-spo';
export * from './run';

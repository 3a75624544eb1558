// The shapes world's prompt forms, and the fixed halves of the train prompts
// of one form that the diagnostic scripts here train on and hold out.
const RELATION = / (above|below|to the left of|to the right of) /;
const POSITION = / (on the left|on the right|at the top|at the bottom|in the centre)$/;

export const FORMS = {
  // "a red circle" or "a red circle on the left": no second object.
  'one-object': (p) => !RELATION.test(p),
  // one object and no position: placement counts as right whatever the image does.
  'no-position': (p) => !RELATION.test(p) && !POSITION.test(p),
  relation: (p) => RELATION.test(p),
  all: () => true,
};

/** Train prompts of `form` by position: even ones to train on, odd ones held out. */
export function trainHalves(trainPrompts, form) {
  const keep = FORMS[form];
  if (keep === undefined) throw new Error(`--form must be one of ${Object.keys(FORMS).join(', ')}`);
  const prompts = trainPrompts.filter(keep);
  return { train: prompts.filter((_, i) => i % 2 === 0), heldOut: prompts.filter((_, i) => i % 2 === 1) };
}

// The shapes world's prompt forms, and the fixed halves of the train prompts
// of one form that the diagnostic scripts here train on and hold out.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { worldPromptForm } = await import(path.join(root, 'dist/world-eval.js'));

export const FORMS = {
  // "a red circle" or "a red circle on the left": no second object.
  'one-object': (p) => worldPromptForm(p) !== 'relation',
  // one object and no position: placement counts as right whatever the image does.
  'no-position': (p) => worldPromptForm(p) === 'no-position',
  relation: (p) => worldPromptForm(p) === 'relation',
  all: () => true,
};

/** Train prompts of `form` by position: even ones to train on, odd ones held out. */
export function trainHalves(trainPrompts, form) {
  const keep = FORMS[form];
  if (keep === undefined) throw new Error(`--form must be one of ${Object.keys(FORMS).join(', ')}`);
  const prompts = trainPrompts.filter(keep);
  return { train: prompts.filter((_, i) => i % 2 === 0), heldOut: prompts.filter((_, i) => i % 2 === 1) };
}

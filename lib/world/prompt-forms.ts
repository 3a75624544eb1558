// The relations track's prompt forms as filters, and the fixed halves of the
// train prompts of one form that diagnostic runs train on and hold out.
import { InvalidArgumentError } from '../runtime/errors';
import { worldPromptForm } from './evaluation';

/** Which train prompts a diagnostic run uses, by form. */
export const WORLD_PROMPT_FORMS = {
  /** "a red circle" or "a red circle on the left": no second object. */
  'one-object': (p: string) => worldPromptForm(p) !== 'relation',
  /** One object and no position: placement counts as right whatever the image does. */
  'no-position': (p: string) => worldPromptForm(p) === 'no-position',
  relation: (p: string) => worldPromptForm(p) === 'relation',
  all: (_p: string) => true,
} as const;
export type WorldPromptFormFilter = keyof typeof WORLD_PROMPT_FORMS;

/** Train prompts of `form` by position: even ones to train on, odd ones held out. */
export function trainHalves(trainPrompts: readonly string[], form: WorldPromptFormFilter): { train: string[]; heldOut: string[] } {
  const keep = (WORLD_PROMPT_FORMS as Record<string, ((p: string) => boolean) | undefined>)[form];
  if (keep === undefined) {
    throw new InvalidArgumentError(`form must be one of ${Object.keys(WORLD_PROMPT_FORMS).join(', ')}`);
  }
  const prompts = trainPrompts.filter(keep);
  return { train: prompts.filter((_, i) => i % 2 === 0), heldOut: prompts.filter((_, i) => i % 2 === 1) };
}

// Preference pairs for training the evaluator: from memory, or from the
// documented JSON Lines format (parsed by the engine, images read as PNG here).
import { InvalidArgumentError, NotFoundError, SpoError, captureCallSite } from '../runtime/errors';
import { Image } from '../runtime/image';
import { runJob, type JobOptions } from '../runtime/jobs';
import { native } from '../native/native';

/** Which image a person (or judge) preferred: 0, 1, or neither. */
export type PreferenceLabel = 0 | 1 | 'tie';

export interface PreferencePair {
  prompt: string;
  image0: Image;
  image1: Image;
  label: PreferenceLabel;
}

/**
 * Reads a pairs file: JSON Lines, one pair per line,
 * `{"prompt": "...", "image_0": "a.png", "image_1": "b.png", "label": 0 | 1 | "tie"}`,
 * image paths relative to the file (PNG). Errors name the file and line.
 */
export async function readPairs(file: string, options?: JobOptions): Promise<PreferencePair[]> {
  const site = captureCallSite(readPairs);
  if (typeof file !== 'string' || file.length === 0) throw new InvalidArgumentError('readPairs needs a file path');
  const records = await runJob(site, options, (token, progress) => native().readPairsFile(file, token, progress));
  const pairs: PreferencePair[] = [];
  let size: { width: number; height: number; line: number } | undefined;
  for (const r of records) {
    const where = `${file} line ${r.line}`;
    const load = async (path: string, key: string): Promise<Image> => {
      try {
        return await Image.load(path);
      } catch (e) {
        if (e instanceof NotFoundError) throw new NotFoundError(`${where}: ${key} ${path} does not exist`, { cause: e });
        if (e instanceof SpoError) throw new InvalidArgumentError(`${where}: ${key}: ${e.message}`, { cause: e });
        throw e;
      }
    };
    const image0 = await load(r.image0, 'image_0');
    const image1 = await load(r.image1, 'image_1');
    for (const img of [image0, image1]) {
      size ??= { width: img.width, height: img.height, line: r.line };
      if (img.width !== size.width || img.height !== size.height) {
        throw new InvalidArgumentError(`${where}: an image is ${img.width}x${img.height} but line ${size.line}'s are ` +
          `${size.width}x${size.height}; all images of a pair set must have one size`);
      }
    }
    pairs.push({ prompt: r.prompt, image0, image1, label: r.label });
  }
  return pairs;
}

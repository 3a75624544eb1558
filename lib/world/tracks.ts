// The shapes world's two tracks (docs/SHAPES_WORLD.md), named as the engine
// names them (native/core/world/track.h):
//   relations  one or two objects with positions and relations, clean training
//              renders, the relation judge (the shipped models)
//   scenes     world v2: one to three objects by shape, colour, size and count,
//              training renders with coarse and fine defects, judge v2
// and what each track's judge reports.
import { InvalidArgumentError } from '../runtime/errors';
import type { NativeJudgeScore, NativeScenesJudgeScore } from './native-world';

export type WorldTrack = 'relations' | 'scenes';
export const WORLD_TRACKS: readonly WorldTrack[] = ['relations', 'scenes'];

/** The relation judge's parts (each in [0, 1]); total = 0.7 alignment + 0.3 quality. */
export type RelationsJudgeScore = NativeJudgeScore;

/**
 * Judge v2's parts (each in [0, 1], no gating): total = 0.4 alignment + 0.3
 * coarse + 0.3 fine; alignment = (colour + shape + count) / 3, coarse = (cast +
 * saturation + frame + size + spacing) / 5, fine = (sharpness + smoothness +
 * grain + texture) / 4.
 */
export type ScenesJudgeScore = NativeScenesJudgeScore;

/** The relation judge's score: the name this package has always exported. */
export type JudgeScore = RelationsJudgeScore;

/** A track's judge score type. */
export type WorldJudgeScore<T extends WorldTrack = WorldTrack> = T extends 'scenes' ? ScenesJudgeScore : RelationsJudgeScore;

/** Each track's parts in the engine's order (world/track.h judge_parts: total first). */
export const JUDGE_PARTS = {
  relations: ['total', 'alignment', 'quality', 'colour', 'shape', 'count', 'place', 'background', 'edges'],
  scenes: [
    'total', 'alignment', 'coarse', 'fine', 'colour', 'shape', 'count', 'cast', 'saturation', 'frame', 'size', 'spacing',
    'sharpness', 'smoothness', 'grain', 'texture',
  ],
} as const;

/** A part of a track's judge score. */
export type JudgePartOf<T extends WorldTrack> = (typeof JUDGE_PARTS)[T][number];

/** A part of a score of either type (its numeric fields but the blob count). */
export type ScorePart<S> = Exclude<keyof S, 'blobs'> & string;

/**
 * World v2's defects by name (native/core/world/v2_defects.h, the order of its
 * enum). Coarse: colour-cast, desaturation, cut-by-border, wrong-size, merged;
 * read by alignment's count: missing-object, extra-object; fine: blur, grain,
 * jagged, texture.
 */
export const WORLD_DEFECTS = [
  'colour-cast', 'desaturation', 'cut-by-border', 'wrong-size', 'merged', 'missing-object', 'extra-object',
  'blur', 'grain', 'jagged', 'texture',
] as const;
export type WorldDefect = (typeof WORLD_DEFECTS)[number];

/** The track or, unset, 'relations'; InvalidArgumentError naming both otherwise. */
export function checkTrack(track: WorldTrack | undefined): WorldTrack {
  if (track === undefined) return 'relations';
  if (track !== 'relations' && track !== 'scenes') {
    throw new InvalidArgumentError(`world track must be 'relations' or 'scenes', not ${String(track)}`);
  }
  return track;
}

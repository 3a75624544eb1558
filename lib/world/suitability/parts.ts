// The parts of judge v2's score that the checks read (total first).
import type { ScenesJudgeScore } from '../tracks';

export const PARTS = ['total', 'alignment', 'coarse', 'fine'] as const;
export type CheckedPart = (typeof PARTS)[number];
/** The parts a check reads of one judged image. */
export type PartScores = Pick<ScenesJudgeScore, CheckedPart>;

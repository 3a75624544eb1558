import { callSync } from './jobs';
import { native } from '../native/native';
import type { NativeBuildInfo } from '../native/native-types';

export type BuildInfo = NativeBuildInfo;

/** What the loaded engine was built with and what it sees on this machine. */
export function buildInfo(): BuildInfo {
  return callSync(() => native().buildInfo());
}

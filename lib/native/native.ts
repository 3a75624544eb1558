// Loads the addon once: $SPO_NATIVE_PATH when set (a .node file: another
// build directory), else the local build (build/Release) when present, else
// the prebuilt binary for this platform (prebuilds/linux-x64), via node-gyp-build.
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import type { NativeAddon } from './native-types';
import { SpoError } from '../runtime/errors';

export const packageRoot = path.resolve(__dirname, '..', '..');

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (!addon) {
    try {
      const override = process.env.SPO_NATIVE_PATH;
      addon = (override ? require(path.resolve(override)) : nodeGypBuild(packageRoot)) as NativeAddon;
    } catch (cause) {
      throw new SpoError(
        `spo-diffusion: the native engine did not load (${(cause as Error).message}). ` +
          'Run `npm rebuild spo-diffusion` (or scripts/bootstrap.sh in a checkout); set LIBTORCH to use your own libtorch.',
        'ERR_SPO_NATIVE_LOAD',
        { cause },
      );
    }
  }
  return addon;
}

// The SPO settings are declared once (native/core/spo/spo_settings_schema.h);
// the TypeScript type and schema are generated from it (lib/generated/).
// These tests fail when the two sides disagree: a default or bound changed on
// one side only, or a generated file not regenerated.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, resolveSettings, type SpoSettings } from '../lib/index';
import { SPO_RENAMED_SETTINGS, SPO_SETTINGS_SCHEMA, SPO_SETTING_NAMES } from '../lib/generated/spo-settings';
import { native } from '../lib/native/native';

const root = path.resolve(__dirname, '..');
type Setting = (typeof SPO_SETTINGS_SCHEMA.settings)[number];
type Preset = (typeof SPO_SETTINGS_SCHEMA.presets)[number];
const field = <K extends string>(s: Setting, key: K): unknown => (s as Record<string, unknown>)[key];

describe('SPO settings schema', () => {
  it('the committed lib/generated/spo-settings.ts is what the addon\'s schema generates', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'generate-spo-settings.mjs'), '--check'],
      { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('the generated schema equals the addon\'s, setting by setting', () => {
    const exported = native().spoSettingsSchema();
    expect(SPO_SETTINGS_SCHEMA.presets).toEqual(exported.presets);
    expect(SPO_SETTING_NAMES).toEqual(exported.settings.map((s) => s.name));
    for (const [i, s] of SPO_SETTINGS_SCHEMA.settings.entries()) expect(s, s.name).toEqual(exported.settings[i]);
    expect(SPO_RENAMED_SETTINGS).toEqual((exported as unknown as { renamed: unknown }).renamed);
  });

  it('each preset resolves, in the engine, to the defaults the generated schema lists', () => {
    for (const preset of SPO_SETTINGS_SCHEMA.presets) {
      const expected = Object.fromEntries(SPO_SETTINGS_SCHEMA.settings.map((s) => [s.name, s.default[preset as Preset]]));
      expect(resolveSettings({ preset })).toEqual(expected);
    }
  });

  it('the presets are the authors\' recipes (docs/method.md §6)', () => {
    // Hand-copied from the authors' configs (spo_sd-v1-5_..._bs10.py, spo_sdxl_..._gradacc2.py over basic_config.py).
    const both = { steps: 20, eta: 1, guidanceScale: 5, beta: 10, eps: 0.1, adamBeta1: 0.9, adamBeta2: 0.999,
      weightDecay: 1e-4, adamEps: 1e-8, epochs: 10, seed: 42, maxGradNorm: 1, divertStartStep: 4 };
    expect(resolveSettings({ preset: 'sd15' })).toMatchObject({ ...both, k: 4, transitionsPerChain: 1, threshold: 0.3, loraRank: 4,
      loraAlpha: 4, learningRate: 6e-5, sampleBatchSize: 10, trainBatchSize: 10, gradientAccumulation: 1 });
    // The SDXL config's num_inner_step = 3 is the branch step and three more: 4 transitions per chain.
    expect(resolveSettings({ preset: 'sdxl' })).toMatchObject({ ...both, k: 2, transitionsPerChain: 4, threshold: 0.4, loraRank: 64,
      loraAlpha: 64, learningRate: 1e-5, sampleBatchSize: 2, trainBatchSize: 2, gradientAccumulation: 2 });
  });

  it('every bound the generated schema lists is the bound the engine enforces', () => {
    const defaults = resolveSettings({ preset: 'sd15' }) as unknown as Record<string, number>;
    // The settings bounded by `steps` at their lowest, so that steps = 1 is valid on its own.
    const base = { divertStartStep: 0, transitionsPerChain: 1 };
    const accepts = (name: string, value: number) => {
      expect(() => resolveSettings({ ...base, [name]: value } as Partial<SpoSettings>), `${name} = ${value}`).not.toThrow();
    };
    const refuses = (name: string, value: number) => {
      expect(() => resolveSettings({ ...base, [name]: value } as Partial<SpoSettings>), `${name} = ${value}`)
        .toThrow(new RegExp(`setting ${name} = `));
    };
    let checked = 0;
    for (const s of SPO_SETTINGS_SCHEMA.settings) {
      if (s.type !== 'integer' && s.type !== 'number') continue;
      const step = (b: number) => (s.type === 'integer' ? 1 : Math.max(Math.abs(b) * 1e-6, 1e-12));
      const min = field(s, 'min') as number | undefined;
      const maxSetting = field(s, 'maxSetting') as string | undefined;
      const max = maxSetting !== undefined ? defaults[maxSetting]! + (field(s, 'maxOffset') as number)
        : field(s, 'max') as number | undefined;
      const off = field(s, 'off') as number | undefined;
      if (min !== undefined) {
        const below = min - step(min);
        if (field(s, 'minExclusive')) { refuses(s.name, min); accepts(s.name, min + step(min)); }
        else { accepts(s.name, min); refuses(s.name, below === off ? below - 1 : below); }
        checked++;
      }
      if (max !== undefined) {
        if (field(s, 'maxExclusive')) { refuses(s.name, max); accepts(s.name, max - step(max)); }
        else { accepts(s.name, max); refuses(s.name, max + step(max)); }
        checked++;
      }
      if (off !== undefined) { accepts(s.name, off); refuses(s.name, off - 1); }
      if (s.type === 'number' && min === undefined && max === undefined) accepts(s.name, -1e30);  // finite is enough
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('every enum accepts exactly its listed values', () => {
    for (const s of SPO_SETTINGS_SCHEMA.settings) {
      if (s.type !== 'enum') continue;
      for (const v of s.values) expect(resolveSettings({ [s.name]: v } as Partial<SpoSettings>)[s.name]).toBe(v);
      expect(() => resolveSettings({ [s.name]: 'not-a-value' } as Partial<SpoSettings>)).toThrow(InvalidArgumentError);
    }
  });
});

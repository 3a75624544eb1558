// Every setting of an SPO run (docs/method.md §2, §3 and §6), with the two
// presets, validation that names the offending setting, and a JSON form that
// checkpoints store (a resumed run must use the same settings). The settings
// themselves (names, types, defaults, bounds, docs) are declared once, in
// spo_settings_schema.h; everything here is driven by that table.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "spo/spo_settings_schema.h"

namespace spo::trainer {

struct SpoSettings {
#define SPO_SETTINGS_MEMBER(codec, member, name, sd15, sdxl, range, doc) \
  settings_schema::codec::value_type member = sd15;
  SPO_SETTINGS(SPO_SETTINGS_MEMBER)
#undef SPO_SETTINGS_MEMBER

  // "sd15" or "sdxl" (docs/method.md §6); InvalidArgument for another name.
  static SpoSettings from_preset(const std::string& name);
  // InvalidArgument naming the first setting out of range.
  void validate() const;
  nlohmann::json to_json() const;
  // `overrides` (camelCase keys as in the TypeScript API) applied over the preset it names
  // (or `sd15`); unknown keys and wrong types are refused; null leaves the preset's value.
  static SpoSettings from_json(const nlohmann::json& overrides);
};

// The schema as data (the addon's spoSettingsSchema(), from which lib/generated/spo-settings.ts
// is generated): { presets: [...], settings: [{ name, type, doc, default: { sd15, sdxl },
// values? (enum), min?, max?, minExclusive?, maxExclusive?, maxSetting?, maxOffset?, off? }],
// renamed: { <former name>: <the message from_json refuses it with> } }.
nlohmann::json spo_settings_schema();

const char* resampler_name(Resampler r);
const char* pair_selection_name(PairSelection p);
const char* update_mode_name(UpdateMode m);
const char* method_name(Method m);

}  // namespace spo::trainer

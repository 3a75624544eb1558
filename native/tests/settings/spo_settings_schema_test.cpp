// SpoSettings is driven by one table (spo/spo_settings_schema.h). These tests
// check the machinery the table drives, setting by setting, and the presets
// against the authors' recipes copied by hand (docs/method.md §6).
#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <string>

#include "../error_of.h"
#include "runtime/errors.h"
#include "spo/spo_settings.h"

namespace spo::trainer {
namespace {

using nlohmann::json;

const json& schema_settings() {
  static const json s = spo_settings_schema().at("settings");
  return s;
}

using spo::test_util::error_of;

TEST(SpoSettingsSchema, ListsEverySettingOnceAndExactlyTheJsonForm) {
  std::set<std::string> names;
  for (const auto& s : schema_settings()) {
    EXPECT_TRUE(names.insert(s.at("name").get<std::string>()).second) << s.at("name");
    EXPECT_FALSE(s.at("doc").get<std::string>().empty()) << s.at("name");
  }
  std::set<std::string> keys;
  const json stored = SpoSettings{}.to_json();
  for (const auto& [key, value] : stored.items()) keys.insert(key);
  EXPECT_EQ(names, keys);
  EXPECT_EQ(spo_settings_schema().at("presets"), json({"sd15", "sdxl"}));
}

TEST(SpoSettingsSchema, PresetsAreTheAuthorsRecipes) {
  // Both presets (the authors' basic_config.py): 20 DDIM steps, eta 1, CFG 5, beta 10, clamp 0.1, AdamW
  // (0.9, 0.999, 1e-4, 1e-8), 10 epochs, seed 42, clip 1.0, 4 plain steps before the first branch.
  const json both = {{"steps", 20}, {"eta", 1.0}, {"guidanceScale", 5.0}, {"beta", 10.0}, {"eps", 0.1},
                     {"adamBeta1", 0.9}, {"adamBeta2", 0.999}, {"weightDecay", 1e-4}, {"adamEps", 1e-8},
                     {"epochs", 10}, {"seed", 42}, {"maxGradNorm", 1.0}, {"divertStartStep", 4}, {"kappa", -1},
                     {"resampler", "random"}, {"pairSelection", "best-worst"}, {"mode", "spo"}, {"method", "spo"},
                     {"onNonFinite", "stop"}, {"authorsNoopClip", false}, {"guidanceInTraining", true}};
  const json sd15 = {{"preset", "sd15"}, {"k", 4}, {"transitionsPerChain", 1}, {"threshold", 0.3}, {"loraRank", 4},
                     {"loraAlpha", 4.0}, {"learningRate", 6e-5}, {"sampleBatchSize", 10}, {"trainBatchSize", 10},
                     {"gradientAccumulation", 1}};
  // The SDXL config's num_inner_step = 3: the branch step and three more, 4 transitions per chain.
  const json sdxl = {{"preset", "sdxl"}, {"k", 2}, {"transitionsPerChain", 4}, {"threshold", 0.4}, {"loraRank", 64},
                     {"loraAlpha", 64.0}, {"learningRate", 1e-5}, {"sampleBatchSize", 2}, {"trainBatchSize", 2},
                     {"gradientAccumulation", 2}};
  for (const auto& [name, own] : {std::pair{"sd15", sd15}, std::pair{"sdxl", sdxl}}) {
    const json got = SpoSettings::from_preset(name).to_json();
    for (const auto& part : {both, own}) {
      for (const auto& [key, value] : part.items()) EXPECT_EQ(got.at(key), value) << name << "." << key;
    }
  }
  // A default-constructed SpoSettings is the sd15 preset, and from_json({}) too.
  EXPECT_EQ(SpoSettings{}.to_json(), SpoSettings::from_preset("sd15").to_json());
  EXPECT_EQ(SpoSettings::from_json(json::object()).to_json(), SpoSettings::from_preset("sd15").to_json());
  EXPECT_NE(error_of([] { SpoSettings::from_preset("sd3"); }).find("preset"), std::string::npos);
}

// A valid value other than the sd15 default, for every setting.
json other_value(const json& s, const json& defaults) {
  const auto name = s.at("name").get<std::string>();
  const auto type = s.at("type").get<std::string>();
  const json& d = defaults.at(name);
  if (type == "boolean") return !d.get<bool>();
  if (type == "enum") {
    for (const auto& v : s.at("values")) if (v != d) return v;
  }
  if (type == "integer") return d.get<int64_t>() + (s.contains("max") && d == s.at("max") ? -1 : 1);
  return d.get<double>() * 0.5;  // every number's default halved stays inside its bounds
}

TEST(SpoSettingsSchema, EverySettingReadsAndWritesItsOwnMember) {
  const json defaults = SpoSettings{}.to_json();
  for (const auto& s : schema_settings()) {
    const auto name = s.at("name").get<std::string>();
    if (name == "preset") continue;  // changes the others (PresetsAreTheAuthorsRecipes)
    const json v = other_value(s, defaults);
    json expected = defaults;
    expected[name] = v;
    const auto got = SpoSettings::from_json({{name, v}});
    EXPECT_EQ(got.to_json(), expected) << name << " = " << v;  // this member and no other
    EXPECT_EQ(SpoSettings::from_json(got.to_json()).to_json(), got.to_json()) << name;
    // null leaves the preset's value.
    EXPECT_EQ(SpoSettings::from_json({{name, nullptr}}).to_json(), defaults) << name;
  }
}

TEST(SpoSettingsSchema, WrongTypesAndUnknownNamesAreRefusedByName) {
  for (const auto& s : schema_settings()) {
    const auto name = s.at("name").get<std::string>();
    const auto type = s.at("type").get<std::string>();
    const json wrong = type == "boolean" ? json(1) : type == "enum" ? json(1) : json("1");
    EXPECT_NE(error_of([&] { SpoSettings::from_json({{name, wrong}}); }).find("setting " + name), std::string::npos)
        << name;
    if (type == "integer") EXPECT_NE(error_of([&] { SpoSettings::from_json({{name, 2.5}}); }), "") << name;
    if (type == "enum") {
      EXPECT_NE(error_of([&] { SpoSettings::from_json({{name, "not-a-value"}}); }).find("got \"not-a-value\""),
                std::string::npos)
          << name;
    }
  }
  EXPECT_NE(error_of([] { SpoSettings::from_json({{"kk", 4}}); }).find("unknown setting 'kk'"), std::string::npos);
  // A former name is refused with what it became, whatever its value (its count changed too).
  const auto renamed = error_of([] { SpoSettings::from_json({{"innerSteps", 3}}); });
  EXPECT_NE(renamed.find("innerSteps was renamed transitionsPerChain"), std::string::npos) << renamed;
  EXPECT_NE(renamed.find("num_inner_step = n is transitionsPerChain = n + 1"), std::string::npos) << renamed;
  EXPECT_EQ(spo_settings_schema().at("renamed").at("innerSteps"), renamed);
  EXPECT_NE(error_of([] { SpoSettings::from_json({{"seed", -1}}); }).find("seed"), std::string::npos);
}

TEST(SpoSettingsSchema, ValidateNamesTheSettingAndItsBounds) {
  // Hand-picked from the bounds of the previous hand-written validate(): closed, open, relative and `off`.
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"k", 1}}); }), "setting k = 1 is outside [2, 64]");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"k", 64}}); }), "");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"eps", 1.0}}); }), "setting eps = 1 is outside (0, 1)");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"learningRate", 0.0}}); }),
            "setting learningRate = 0 is outside (0, 1)");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"loraAlpha", 0.0}}); }), "setting loraAlpha = 0 is outside (0, inf)");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"divertStartStep", 20}}); }),
            "setting divertStartStep = 20 is outside [0, 19] (at most steps - 1)");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"steps", 30}, {"divertStartStep", 29}, {"transitionsPerChain", 30}}); }),
            "");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"transitionsPerChain", 21}}); }),
            "setting transitionsPerChain = 21 is outside [1, 20] (at most steps)");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"kappa", -1}}); }), "");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"kappa", 999}}); }), "");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"kappa", 1000}}); }),
            "setting kappa = 1000 is outside [0, 999] or -1 (off)");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"eta", 0.0}}); }), "setting eta = 0 is outside [1e-06, 10]");
  EXPECT_EQ(error_of([] { SpoSettings::from_json({{"maxGradNorm", -3.0}}); }), "");
  SpoSettings s;
  s.max_grad_norm = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(error_of([&] { s.validate(); }), "setting maxGradNorm = nan is outside finite numbers");
}

}  // namespace
}  // namespace spo::trainer

// SpoSettings driven by the SPO_SETTINGS table (spo_settings_schema.h): no
// setting is named in this file; each function expands the table once.
#include "spo/spo_settings.h"

#include <cmath>
#include <type_traits>
#include <vector>

#include "runtime/errors.h"

namespace spo::trainer {

using nlohmann::json;
using namespace settings_schema;

namespace {

template <typename C>
struct IsChoice : std::false_type {};
template <typename T, const auto& Names>
struct IsChoice<Choice<T, Names>> : std::true_type {};

// A value for messages: integers without a fraction, non-finite numbers by name.
std::string show(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  return json(v).dump();
}

template <size_t N>
std::string one_of(const std::array<const char*, N>& names) {
  std::string s;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) s += i + 1 == N ? " or " : ", ";
    s += std::string("\"") + names[i] + "\"";
  }
  return s;
}

template <typename Codec>
typename Codec::value_type read(const json& v, const std::string& key) {
  using T = typename Codec::value_type;
  const std::string setting = "setting " + key;
  if constexpr (IsChoice<Codec>::value) {
    require(v.is_string(), setting + " must be a string, got " + v.dump());
    const auto s = v.get<std::string>();
    for (size_t i = 0; i < Codec::names.size(); ++i) {
      if (s != Codec::names[i]) continue;
      if constexpr (std::is_same_v<T, std::string>) return s;
      else return static_cast<T>(i);
    }
    throw InvalidArgument(setting + " must be " + one_of(Codec::names) + ", got \"" + s + "\"");
  } else if constexpr (std::is_same_v<T, bool>) {
    require(v.is_boolean(), setting + " must be a boolean, got " + v.dump());
    return v.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    require(v.is_number_integer(), setting + " must be an integer, got " + v.dump());
    if constexpr (std::is_unsigned_v<T>) {
      require(v.is_number_unsigned() || v.get<int64_t>() >= 0, setting + " must be >= 0");
    } else {
      require(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX), setting + " is out of range");
    }
    return v.get<T>();
  } else {
    require(v.is_number(), setting + " must be a number, got " + v.dump());
    return v.get<T>();
  }
}

template <typename Codec>
json write(const typename Codec::value_type& v) {
  if constexpr (IsChoice<Codec>::value && !std::is_same_v<typename Codec::value_type, std::string>) {
    return Codec::names[static_cast<size_t>(v)];
  } else {
    return v;
  }
}

// One row of the table as data, for validate() and the exported schema.
struct Info {
  const char* name;
  const char* type;
  Range range;
  const char* doc;
  std::vector<std::string> values;  // an enum's names
};

template <typename Codec>
std::vector<std::string> values_of() {
  if constexpr (IsChoice<Codec>::value) return {Codec::names.begin(), Codec::names.end()};
  else return {};
}

const std::vector<Info>& infos() {
#define SPO_SETTINGS_INFO(codec, member, name, sd15, sdxl, range, doc) \
  Info{name, codec::type, range, doc, values_of<codec>()},
  static const std::vector<Info> table{SPO_SETTINGS(SPO_SETTINGS_INFO)};
#undef SPO_SETTINGS_INFO
  return table;
}

std::string interval(const Range& r, double hi) {
  if (std::isinf(r.lo) && std::isinf(hi)) return "finite numbers";
  std::string s = std::string(r.lo_open ? "(" : "[") + show(r.lo) + ", " + show(hi) + (r.hi_open || std::isinf(hi) ? ")" : "]");
  if (r.hi_setting) s += std::string(" (at most ") + r.hi_setting + (r.hi_offset != 0 ? " - " + show(-r.hi_offset) : "") + ")";
  if (r.has_off) s += " or " + show(r.off) + " (off)";
  return s;
}

}  // namespace

const char* resampler_name(Resampler r) { return kResamplerNames.at(static_cast<size_t>(r)); }
const char* pair_selection_name(PairSelection p) { return kPairSelectionNames.at(static_cast<size_t>(p)); }
const char* update_mode_name(UpdateMode m) { return kUpdateModeNames.at(static_cast<size_t>(m)); }
const char* method_name(Method m) { return kMethodNames.at(static_cast<size_t>(m)); }

SpoSettings SpoSettings::from_preset(const std::string& name) {
  const bool is_sdxl = read<PresetChoice>(json(name), "preset") == kPresetNames[1];
  SpoSettings s;  // the members' initializers are the sd15 column
  if (!is_sdxl) return s;
#define SPO_SETTINGS_SDXL(codec, member, key, sd15, sdxl, range, doc) s.member = sdxl;
  SPO_SETTINGS(SPO_SETTINGS_SDXL)
#undef SPO_SETTINGS_SDXL
  return s;
}

void SpoSettings::validate() const {
  const json j = to_json();
  for (const auto& info : infos()) {
    const Range& r = info.range;
    if (!r.checked) continue;
    const double v = j.at(info.name).get<double>();
    const double hi = r.hi_setting ? j.at(r.hi_setting).get<double>() + r.hi_offset : r.hi;
    const bool inside = (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < hi : v <= hi);
    require(std::isfinite(v) && ((r.has_off && v == r.off) || inside),
            std::string("setting ") + info.name + " = " + show(v) + " is outside " + interval(r, hi));
  }
}

json SpoSettings::to_json() const {
  json j = json::object();
#define SPO_SETTINGS_WRITE(codec, member, name, sd15, sdxl, range, doc) j[name] = write<codec>(member);
  SPO_SETTINGS(SPO_SETTINGS_WRITE)
#undef SPO_SETTINGS_WRITE
  return j;
}

SpoSettings SpoSettings::from_json(const json& o) {
  require(o.is_object(), "settings must be an object");
  for (const auto& [key, value] : o.items()) {
    bool known = false;
    for (const auto& info : infos()) known = known || key == info.name;
    for (const auto& renamed : kRenamedSettings) require(key != renamed.name, renamed.message);
    require(known, "unknown setting '" + key + "'");
  }
  const auto given = [&](const char* key) { return o.contains(key) && !o.at(key).is_null(); };
  SpoSettings s = from_preset(given("preset") ? read<PresetChoice>(o.at("preset"), "preset") : kPresetNames[0]);
#define SPO_SETTINGS_READ(codec, member, name, sd15, sdxl, range, doc) \
  if (given(name)) s.member = read<codec>(o.at(name), name);
  SPO_SETTINGS(SPO_SETTINGS_READ)
#undef SPO_SETTINGS_READ
  s.validate();
  return s;
}

json spo_settings_schema() {
  const json sd15 = SpoSettings::from_preset(kPresetNames[0]).to_json();
  const json sdxl = SpoSettings::from_preset(kPresetNames[1]).to_json();
  json settings = json::array();
  for (const auto& info : infos()) {
    json e = {{"name", info.name}, {"type", info.type}, {"doc", info.doc},
              {"default", {{kPresetNames[0], sd15.at(info.name)}, {kPresetNames[1], sdxl.at(info.name)}}}};
    if (!info.values.empty()) e["values"] = info.values;
    const Range& r = info.range;
    if (r.checked) {
      if (std::isfinite(r.lo)) e["min"] = r.lo;
      if (r.lo_open) e["minExclusive"] = true;
      if (r.hi_setting) {
        e["maxSetting"] = r.hi_setting;
        e["maxOffset"] = r.hi_offset;
      } else if (std::isfinite(r.hi)) {
        e["max"] = r.hi;
      }
      if (r.hi_open) e["maxExclusive"] = true;
      if (r.has_off) e["off"] = r.off;
    }
    settings.push_back(std::move(e));
  }
  json renamed = json::object();
  for (const auto& r : kRenamedSettings) renamed[r.name] = r.message;
  return {{"presets", kPresetNames}, {"settings", settings}, {"renamed", renamed}};
}

}  // namespace spo::trainer

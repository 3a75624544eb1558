#include "io/diffusers_config.h"

#include <set>
#include <string>

namespace spo::io {

Json diffusers_init_fields(const Json& config) {
  if (!config.is_object()) return config;
  std::set<std::string> use_default;
  const auto listed = config.find("_use_default_values");
  if (listed != config.end() && listed->is_array()) {
    for (const Json& key : *listed)
      if (key.is_string()) use_default.insert(key.get<std::string>());
  }
  Json out = Json::object();
  for (const auto& [key, value] : config.items()) {
    if (!key.empty() && key[0] == '_') continue;
    if (use_default.count(key)) continue;
    out[key] = value;
  }
  return out;
}

}  // namespace spo::io

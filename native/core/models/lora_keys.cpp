#include "models/lora_keys.h"

#include <array>
#include <utility>

#include "runtime/errors.h"

namespace spo::models {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

bool strip_suffix(std::string& s, const std::string& suffix) {
  if (s.size() <= suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

}  // namespace

std::optional<LoraKey> parse_lora_key(const std::string& key, const std::string& prefix) {
  if (starts_with(key, "lora_unet_") || starts_with(key, "lora_te"))
    throw Unsupported("LoRA key '" + key + "' is in the kohya-ss layout; convert it to the diffusers layout first");
  if (key.find("lora_magnitude_vector") != std::string::npos || key.find("dora_scale") != std::string::npos)
    throw Unsupported("LoRA key '" + key + "' belongs to a DoRA adapter, which is not supported");

  std::string rest = key;
  if (starts_with(rest, prefix + ".")) {
    rest = rest.substr(prefix.size() + 1);
  } else if (starts_with(rest, "base_model.model.")) {
    rest = rest.substr(17);
  } else if (starts_with(rest, "text_encoder.") || starts_with(rest, "text_encoder_2.")) {
    return std::nullopt;  // another component's LoRA (diffusers' load_lora_into_unet skips them too)
  }
  replace_all(rest, ".processor.", ".");

  if (strip_suffix(rest, ".alpha")) return LoraKey{rest, LoraTensorKind::Alpha};

  static const std::array<std::pair<const char*, LoraTensorKind>, 8> kSuffixes = {{
      {".lora_A.weight", LoraTensorKind::Down},
      {".lora_B.weight", LoraTensorKind::Up},
      {".lora_A.default.weight", LoraTensorKind::Down},
      {".lora_B.default.weight", LoraTensorKind::Up},
      {".lora.down.weight", LoraTensorKind::Down},
      {".lora.up.weight", LoraTensorKind::Up},
      {".lora_linear_layer.down.weight", LoraTensorKind::Down},
      {".lora_linear_layer.up.weight", LoraTensorKind::Up},
  }};
  for (const auto& [suffix, kind] : kSuffixes) {
    if (strip_suffix(rest, suffix)) return LoraKey{rest, kind};
  }
  // The attention-processor era: attn1.processor.to_q_lora.down.weight -> attn1.to_q.
  static const std::array<std::pair<const char*, const char*>, 4> kProcessor = {{
      {".to_q_lora", ".to_q"}, {".to_k_lora", ".to_k"}, {".to_v_lora", ".to_v"}, {".to_out_lora", ".to_out.0"}}};
  for (const auto& [old_name, module] : kProcessor) {
    for (const auto& [half, kind] : {std::pair{".down.weight", LoraTensorKind::Down}, {".up.weight", LoraTensorKind::Up}}) {
      std::string m = rest;
      if (strip_suffix(m, std::string(old_name) + half)) return LoraKey{m + module, kind};
    }
  }
  if (key.find("lora_B") != std::string::npos && strip_suffix(rest, ".bias"))
    throw Unsupported("LoRA key '" + key + "' is a LoRA bias (peft lora_bias=True), which is not supported");
  throw InvalidArgument("unrecognised LoRA key '" + key + "'");
}

std::string lora_key_name(const std::string& prefix, const std::string& module, LoraTensorKind kind) {
  const std::string base = prefix.empty() ? module : prefix + "." + module;
  switch (kind) {
    case LoraTensorKind::Down: return base + ".lora_A.weight";
    case LoraTensorKind::Up: return base + ".lora_B.weight";
    case LoraTensorKind::Alpha: return base + ".alpha";
  }
  return base;
}

}  // namespace spo::models

#include "models/lora_file.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "io/safetensors.h"
#include "models/lora_keys.h"
#include "runtime/errors.h"

namespace spo::models {

namespace {

using Json = nlohmann::json;
const char* const kMetadataKey = "lora_adapter_metadata";  // diffusers' LORA_ADAPTER_METADATA_KEY

// ---- writing ----

// The most frequent value (ties: the smallest), as diffusers picks r / lora_alpha.
template <typename T>
T most_common(const std::vector<T>& values) {
  std::map<T, int> counts;
  for (const auto& v : values) ++counts[v];
  T best = values.front();
  int best_count = 0;
  for (const auto& [v, c] : counts)
    if (c > best_count) best = v, best_count = c;
  return best;
}

Json number(double v) {
  if (std::floor(v) == v && std::abs(v) < 1e15) return Json(static_cast<int64_t>(v));
  return Json(v);
}

// peft's LoraConfig fields for this set, keyed "<prefix>.<field>" as diffusers'
// save_lora_weights writes them. Per-module exceptions go to rank_pattern /
// alpha_pattern anchored with "^" (peft matches them as regexes).
Json adapter_metadata(const LoraSet& set, const std::string& prefix) {
  std::vector<int64_t> ranks;
  std::vector<double> alphas;
  for (const auto& l : set.layers) {
    ranks.push_back(l.branch->rank());
    alphas.push_back(l.branch->alpha);
  }
  const int64_t r = most_common(ranks);
  const double alpha = most_common(alphas);
  Json targets = Json::array(), rank_pattern = Json::object(), alpha_pattern = Json::object();
  for (const auto& l : set.layers) {
    targets.push_back(l.name);
    if (l.branch->rank() != r) rank_pattern["^" + l.name] = l.branch->rank();
    if (l.branch->alpha != alpha) alpha_pattern["^" + l.name] = number(l.branch->alpha);
  }
  const std::string p = prefix.empty() ? "" : prefix + ".";
  Json m = Json::object();
  m[p + "r"] = r;
  m[p + "lora_alpha"] = number(alpha);
  m[p + "target_modules"] = targets;
  m[p + "rank_pattern"] = rank_pattern;
  m[p + "alpha_pattern"] = alpha_pattern;
  m[p + "init_lora_weights"] = "gaussian";
  m[p + "use_rslora"] = false;
  m[p + "use_dora"] = false;
  m[p + "lora_bias"] = false;
  m[p + "peft_type"] = "LORA";
  return m;
}

// ---- reading ----

// The peft LoraConfig fields for `prefix` from the file's metadata (null when absent).
Json read_adapter_metadata(const io::SafeTensorsFile& file, const std::string& prefix) {
  const auto it = file.metadata().find(kMetadataKey);
  if (it == file.metadata().end()) return nullptr;
  Json all = Json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  require(all.is_object(), "LoRA file " + file.path() + ": metadata '" + kMetadataKey + "' is not a JSON object");
  Json mine = Json::object();
  const std::string p = prefix + ".";
  for (const auto& [k, v] : all.items())
    if (k.compare(0, p.size(), p) == 0) mine[k.substr(p.size())] = v;
  // diffusers' save_lora_adapter (a bare model) writes the fields unprefixed.
  if (mine.empty() && (all.contains("r") || all.contains("lora_alpha"))) return all;
  return mine.empty() ? Json(nullptr) : mine;
}

struct AlphaRule {
  double default_alpha = 0;  // 0: alpha = rank
  bool rslora = false;
  std::vector<std::pair<std::regex, double>> patterns;  // peft's alpha_pattern
};

AlphaRule alpha_rule(const Json& meta, const std::string& path) {
  AlphaRule rule;
  if (meta.is_null()) return rule;
  const std::string where = "LoRA file " + path + ": metadata ";
  if (meta.contains("use_dora") && meta["use_dora"].is_boolean() && meta["use_dora"].get<bool>())
    throw Unsupported(where + "describes a DoRA adapter, which is not supported");
  if (meta.contains("lora_alpha") && !meta["lora_alpha"].is_null()) {
    require(meta["lora_alpha"].is_number(), where + "lora_alpha is not a number");
    rule.default_alpha = meta["lora_alpha"].get<double>();
    require(std::isfinite(rule.default_alpha) && rule.default_alpha > 0, where + "lora_alpha must be positive");
  }
  if (meta.contains("use_rslora")) rule.rslora = meta["use_rslora"].is_boolean() && meta["use_rslora"].get<bool>();
  if (meta.contains("alpha_pattern") && meta["alpha_pattern"].is_object()) {
    for (const auto& [pattern, value] : meta["alpha_pattern"].items()) {
      require(value.is_number() && value.get<double>() > 0 && std::isfinite(value.get<double>()),
              where + "alpha_pattern['" + pattern + "'] must be a positive number");
      // Keys are module names (diffusers writes them); anything else is refused
      // before it reaches std::regex, whose recursive compiler and
      // backtracking matcher an untrusted pattern could exhaust.
      require(!pattern.empty() && pattern.size() <= 256 &&
                  pattern.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") ==
                      std::string::npos,
              where + "alpha_pattern key '" + pattern.substr(0, 64) + "' is not a module name");
      try {
        // peft: re.match(rf"(.*\.)?({key})$", module_name)
        rule.patterns.emplace_back(std::regex("(.*\\.)?(" + pattern + ")"), value.get<double>());
      } catch (const std::regex_error&) {
        throw InvalidArgument(where + "alpha_pattern key '" + pattern + "' is not a valid pattern");
      }
    }
  }
  return rule;
}

struct PendingLayer {
  std::string down_key, up_key;
  at::Tensor down, up;
  std::optional<double> alpha;
  LinearImpl* linear = nullptr;
};

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

void save_lora(const std::string& path, const LoraSet& set, const std::string& prefix) {
  require(!set.layers.empty(), "save_lora: the model has no LoRA attached");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& l : set.layers) {
    tensors.emplace_back(lora_key_name(prefix, l.name, LoraTensorKind::Down), l.branch->down.detach().to(at::kFloat));
    tensors.emplace_back(lora_key_name(prefix, l.name, LoraTensorKind::Up), l.branch->up.detach().to(at::kFloat));
  }
  io::save_safetensors(path, tensors, {{"format", "pt"}, {kMetadataKey, adapter_metadata(set, prefix).dump(2)}});
}

void save_lora(const std::string& path, const torch::nn::Module& model, const std::string& prefix) {
  save_lora(path, find_lora(model), prefix);
}

LoraLoadResult load_lora(const std::string& path, torch::nn::Module& model, const std::string& prefix) {
  io::refuse_pickle(path);
  const auto file = io::SafeTensorsFile::open(path);
  const std::string where = "LoRA file " + path + ": ";
  const AlphaRule rule = alpha_rule(read_adapter_metadata(*file, prefix), path);

  std::map<std::string, LinearImpl*> linears;
  std::vector<std::string> module_order;
  for (const auto& item : model.named_modules("", false)) {
    if (auto* linear = dynamic_cast<LinearImpl*>(item.value().get())) {
      require(!linear->lora, where + "the model already has a LoRA on '" + item.key() + "' (detach or merge it first)");
      linears[item.key()] = linear;
      module_order.push_back(item.key());
    }
  }

  LoraLoadResult result;
  std::map<std::string, PendingLayer> pending;
  std::vector<std::string> order;  // modules in file order
  for (const auto& entry : file->entries()) {
    const auto parsed = parse_lora_key(entry.name, prefix);
    if (!parsed) {
      ++result.skipped_keys;
      continue;
    }
    const auto found = linears.find(parsed->module);
    require(found != linears.end(),
            where + "key '" + entry.name + "' names module '" + parsed->module + "', which is not a Linear layer of the model");
    require(at::isFloatingType(entry.dtype), where + "key '" + entry.name + "' is not a floating-point tensor");
    auto [it, fresh] = pending.try_emplace(parsed->module);
    if (fresh) order.push_back(parsed->module);
    PendingLayer& layer = it->second;
    layer.linear = found->second;
    // A copy: the file's tensor views a read-only mapping, and training updates these in place.
    const at::Tensor value = file->tensor(entry.name).to(at::kFloat, false, /*copy=*/true);
    require(at::isfinite(value).all().item<bool>(), where + "key '" + entry.name + "' holds non-finite values");
    switch (parsed->kind) {
      case LoraTensorKind::Down:
        require(!layer.down.defined(), where + "key '" + entry.name + "' repeats the down weight of its module");
        layer.down = value, layer.down_key = entry.name;
        break;
      case LoraTensorKind::Up:
        require(!layer.up.defined(), where + "key '" + entry.name + "' repeats the up weight of its module");
        layer.up = value, layer.up_key = entry.name;
        break;
      case LoraTensorKind::Alpha:
        require(value.numel() == 1 && value.item<double>() > 0, where + "key '" + entry.name + "' must be one positive number");
        layer.alpha = value.item<double>();
        break;
    }
  }
  require(!order.empty(), where + "no LoRA weights for '" + prefix + "' in the file");

  // Validate every layer before attaching any.
  for (const auto& name : order) {
    const PendingLayer& l = pending.at(name);
    require(l.down.defined(), where + "module '" + name + "' has no down (lora_A) weight");
    require(l.up.defined(), where + "module '" + name + "' has no up (lora_B) weight");
    const int64_t out = l.linear->weight.size(0), in = l.linear->weight.size(1);
    require(l.down.dim() == 2 && l.down.size(0) >= 1 && l.down.size(1) == in,
            where + "key '" + l.down_key + "' has shape " + shape_text(l.down.sizes()) + ", expected [rank, " +
                std::to_string(in) + "]");
    require(l.up.dim() == 2 && l.up.size(0) == out && l.up.size(1) == l.down.size(0),
            where + "key '" + l.up_key + "' has shape " + shape_text(l.up.sizes()) + ", expected [" +
                std::to_string(out) + ", " + std::to_string(l.down.size(0)) + "]");
  }

  for (const auto& name : module_order) {
    const auto it = pending.find(name);
    if (it == pending.end()) continue;
    PendingLayer& l = it->second;
    const auto rank = static_cast<double>(l.down.size(0));
    double alpha = rule.default_alpha > 0 ? rule.default_alpha : rank;
    for (const auto& [pattern, value] : rule.patterns)
      if (std::regex_match(name, pattern)) {
        alpha = value;
        break;
      }
    if (l.alpha) alpha = *l.alpha;
    auto branch = std::make_shared<LoraBranch>();
    const auto device = l.linear->weight.device();
    branch->down = l.down.to(device).contiguous().requires_grad_(true);
    branch->up = l.up.to(device).contiguous().requires_grad_(true);
    branch->alpha = alpha;
    branch->scale = rule.rslora ? alpha / std::sqrt(rank) : alpha / rank;
    l.linear->lora = branch;
    result.set.layers.push_back({name, branch});
  }
  return result;
}

}  // namespace spo::models

// Strict weight loading: every check runs before the first copy, so a refused
// checkpoint leaves the module exactly as it was.
#include "io/module_weights.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "runtime/errors.h"

namespace spo::io {
namespace {

constexpr size_t kListed = 5;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// "2 missing keys: a, b" with at most kListed names shown.
void append_group(std::string& out, const std::string& label, const std::vector<std::string>& items) {
  if (items.empty()) return;
  if (!out.empty()) out += "; ";
  out += std::to_string(items.size()) + " " + label + ": ";
  for (size_t i = 0; i < items.size() && i < kListed; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > kListed) out += ", ... (" + std::to_string(items.size() - kListed) + " more)";
}

std::string files_text(const std::vector<std::shared_ptr<SafeTensorsFile>>& files) {
  if (files.size() == 1) return files[0]->path();
  std::string s = std::to_string(files.size()) + " files (";
  for (size_t i = 0; i < files.size(); ++i) s += (i ? ", " : "") + files[i]->path();
  return s + ")";
}

struct Source {
  const SafeTensorsFile* file;
  const TensorEntry* entry;
};

// Checkpoint key (after ignore and renames) -> where its data lives.
std::map<std::string, Source> collect_sources(const std::vector<std::shared_ptr<SafeTensorsFile>>& files,
                                              const WeightLoadOptions& options) {
  const std::set<std::string> ignored(options.ignore.begin(), options.ignore.end());
  std::map<std::string, Source> sources;
  for (const auto& file : files) {
    require(file != nullptr, "load_module_weights: a weights file is null");
    for (const auto& entry : file->entries()) {
      if (ignored.count(entry.name)) continue;
      auto renamed = options.renames.find(entry.name);
      const std::string key = renamed == options.renames.end() ? entry.name : renamed->second;
      if (ignored.count(key)) continue;
      auto [it, inserted] = sources.emplace(key, Source{file.get(), &entry});
      if (!inserted) {
        throw InvalidArgument("weights key '" + key + "' is given twice: in " + it->second.file->path() + " ('" +
                              it->second.entry->name + "') and in " + file->path() + " ('" + entry.name + "')");
      }
    }
  }
  return sources;
}

}  // namespace

std::string describe_differences(const ShapeList& actual, const ShapeList& expected) {
  const std::map<std::string, std::vector<int64_t>> actual_map(actual.begin(), actual.end());
  const std::map<std::string, std::vector<int64_t>> expected_map(expected.begin(), expected.end());
  std::vector<std::string> missing, unexpected, wrong_shape;
  for (const auto& [key, shape] : expected) {
    auto it = actual_map.find(key);
    if (it == actual_map.end()) {
      missing.push_back(key);
    } else if (it->second != shape) {
      wrong_shape.push_back(key + " (file " + shape_text(it->second) + ", model " + shape_text(shape) + ")");
    }
  }
  for (const auto& [key, shape] : actual) {
    if (!expected_map.count(key)) unexpected.push_back(key);
  }
  std::string out;
  append_group(out, missing.size() == 1 ? "missing key" : "missing keys", missing);
  append_group(out, unexpected.size() == 1 ? "unexpected key" : "unexpected keys", unexpected);
  append_group(out, wrong_shape.size() == 1 ? "key with the wrong shape" : "keys with the wrong shape", wrong_shape);
  return out;
}

void load_module_weights(torch::nn::Module& module, const std::vector<std::shared_ptr<SafeTensorsFile>>& files,
                         const WeightLoadOptions& options) {
  require(!files.empty(), "load_module_weights: no weights files given");
  const std::string from = files_text(files);
  const auto sources = collect_sources(files, options);

  std::vector<std::pair<std::string, at::Tensor>> targets;
  auto wanted = [&](const std::string& key) { return !options.optional.count(key) || sources.count(key); };
  for (const auto& p : module.named_parameters(true)) {
    if (p.value().defined() && wanted(p.key())) targets.emplace_back(p.key(), p.value());
  }
  for (const auto& b : module.named_buffers(true)) {
    if (b.value().defined() && wanted(b.key())) targets.emplace_back(b.key(), b.value());
  }

  ShapeList actual, expected;
  for (const auto& [key, source] : sources) actual.emplace_back(key, source.entry->shape);
  for (const auto& [key, target] : targets) expected.emplace_back(key, target.sizes().vec());
  const std::string differences = describe_differences(actual, expected);
  if (!differences.empty()) throw InvalidArgument("weights in " + from + " do not match the model: " + differences);

  for (const auto& [key, target] : targets) {
    const TensorEntry& entry = *sources.at(key).entry;
    // Converting between integer ids and float weights would be silent corruption.
    if (at::isFloatingType(entry.dtype) != at::isFloatingType(target.scalar_type())) {
      throw InvalidArgument("weights in " + from + ": key '" + key + "' has dtype " + c10::toString(entry.dtype) +
                            " but the model's is " + c10::toString(target.scalar_type()));
    }
  }

  at::NoGradGuard no_grad;
  for (auto& [key, target] : targets) {
    const Source& source = sources.at(key);
    try {
      target.copy_(source.file->tensor(source.entry->name));
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::Internal,
                  "loading '" + key + "' from " + source.file->path() + " failed: " + e.what_without_backtrace());
    }
  }
}

}  // namespace spo::io

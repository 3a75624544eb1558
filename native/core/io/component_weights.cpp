// Finding a component's safetensors files in a diffusers / transformers
// directory, single-file or sharded by an index.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "io/json_file.h"
#include "io/module_weights.h"
#include "runtime/errors.h"

namespace spo::io {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<std::string> sorted_file_names(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) names.push_back(it->path().filename().string());
  }
  if (ec) throw InvalidArgument("cannot list weights directory " + dir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

// The index to use: the plain diffusers / transformers name first, so that a
// variant's index (e.g. *.fp16.safetensors.index.json) beside it is not taken.
std::string pick_index(const std::string& dir, const std::vector<std::string>& names) {
  std::vector<std::string> indexes;
  for (const auto& n : names) {
    if (ends_with(n, ".safetensors.index.json")) indexes.push_back(n);
  }
  for (const char* preferred : {"diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json"}) {
    if (std::find(indexes.begin(), indexes.end(), preferred) != indexes.end()) return preferred;
  }
  if (indexes.size() > 1) {
    throw InvalidArgument("weights directory " + dir + " holds several shard indexes (" + indexes[0] + ", " +
                          indexes[1] + ", ...); keep one");
  }
  return indexes.empty() ? "" : indexes[0];
}

bool safe_shard_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name.find("..") == std::string::npos && name != ".";
}

std::vector<std::shared_ptr<SafeTensorsFile>> open_sharded(const std::string& dir, const std::string& index_name) {
  const std::string index_path = dir + "/" + index_name;
  const Json index = read_json(index_path);
  require(json_has(index, "weight_map") && index["weight_map"].is_object(),
          index_path + ": weight_map must be an object of tensor name -> shard file");
  std::vector<std::string> shard_names;  // in first-mention order
  std::map<std::string, std::string> shard_of;
  for (const auto& [key, shard] : index["weight_map"].items()) {
    require(shard.is_string(), index_path + ": the shard of '" + key + "' must be a file name");
    const std::string name = shard.get<std::string>();
    require(safe_shard_name(name), index_path + ": shard file name '" + name + "' must stay inside " + dir);
    if (std::find(shard_names.begin(), shard_names.end(), name) == shard_names.end()) shard_names.push_back(name);
    shard_of[key] = name;
  }
  require(!shard_names.empty(), index_path + ": weight_map lists no tensors");

  std::vector<std::shared_ptr<SafeTensorsFile>> files;
  std::map<std::string, std::string> seen;  // tensor -> shard holding it
  for (const auto& name : shard_names) {
    files.push_back(SafeTensorsFile::open(dir + "/" + name));
    for (const auto& entry : files.back()->entries()) {
      auto [it, inserted] = seen.emplace(entry.name, name);
      require(inserted, "weights key '" + entry.name + "' is in two shards of " + dir + ": " + it->second + " and " +
                            name);
    }
  }
  for (const auto& [key, shard] : shard_of) {
    auto it = seen.find(key);
    require(it != seen.end() && it->second == shard,
            index_path + ": '" + key + "' is mapped to " + shard + " but that shard does not hold it");
  }
  return files;
}

}  // namespace

std::vector<std::shared_ptr<SafeTensorsFile>> open_component_weights(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw Error(ErrorCode::NotFound, "weights directory not found: " + dir);
  require(S_ISDIR(st.st_mode), "expected a weights directory but " + dir + " is not a directory");
  const auto names = sorted_file_names(dir);
  const auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };

  const std::string index = pick_index(dir, names);
  if (!index.empty()) return open_sharded(dir, index);
  for (const char* single : {"diffusion_pytorch_model.safetensors", "model.safetensors"}) {
    if (has(single)) return {SafeTensorsFile::open(dir + "/" + single)};
  }
  for (const auto& n : names) {
    refuse_pickle(dir + "/" + n);  // throws for the first pickle checkpoint
  }
  throw Error(ErrorCode::NotFound, "no weights in " + dir +
                                       ": looked for *.safetensors.index.json, diffusion_pytorch_model.safetensors "
                                       "and model.safetensors");
}

}  // namespace spo::io

// Pickle checkpoints can run arbitrary code when loaded, so the engine never
// opens them; it names a one-line conversion the user runs once instead.
#include <algorithm>
#include <cctype>

#include "io/safetensors.h"
#include "runtime/errors.h"

namespace spo::io {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The safetensors name that diffusers / transformers look for beside the pickle.
std::string converted_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base == "pytorch_model.bin") return dir + "model.safetensors";
  const auto dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0) base.resize(dot);
  return dir + base + ".safetensors";
}

// A single-quoted Python literal inside a double-quoted shell argument.
std::string python_literal_in_shell(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += "'";
  std::string shell;
  for (char c : out) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') shell += '\\';
    shell += c;
  }
  return shell;
}

}  // namespace

void refuse_pickle(const std::string& path) {
  const std::string name = lower(path);
  for (const char* ext : {".bin", ".ckpt", ".pt", ".pth", ".pkl"}) {
    const std::string e(ext);
    if (name.size() < e.size() || name.compare(name.size() - e.size(), e.size(), e) != 0) continue;
    throw Unsupported(
        path + " is a pickle checkpoint (" + e +
        "); the engine loads only safetensors, because unpickling can run arbitrary code. Convert it once with:\n"
        "python -c \"import torch, safetensors.torch as s; s.save_file({k: v.contiguous().clone() for k, v in torch.load(" +
        python_literal_in_shell(path) + ", map_location='cpu', weights_only=True).items()}, " +
        python_literal_in_shell(converted_path(path)) + ")\"");
  }
}

}  // namespace spo::io

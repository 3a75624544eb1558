// A LoRA training checkpoint directory from one input: `latest`, then the
// step's trainer_state.json, lora.safetensors and optimizer.safetensors (an
// empty part: the file is absent), written to a scratch directory and loaded
// by the trainer's resume path. The checkpoint metadata (latest, the run's
// identity) and the tensors behind it are all untrusted here.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "spo/lora_checkpoint.h"

namespace {

// One scratch directory per fuzzing process, under /dev/shm when present (fast).
const std::string& scratch_root() {
  // Never destroyed: the exit handler below removes the directory after static destructors ran.
  static const std::string& root = *new std::string([] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    std::string pattern = base + "/spo-fuzz-ckpt-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) spo::fuzz::fail("mkdtemp");
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_root(), ec);
    });
    return pattern;
  }());
  return root;
}

void put(const std::string& path, const std::string& content) {
  if (content.empty()) {
    ::unlink(path.c_str());
    return;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = spo::fuzz::split_parts(data, size, 4);
  const std::string root = scratch_root();
  const std::string step_dir = root + "/step-000000007";
  ::mkdir(step_dir.c_str(), 0700);
  put(root + "/latest", parts[0]);
  put(step_dir + "/trainer_state.json", parts[1]);
  put(step_dir + "/lora.safetensors", parts[2]);
  put(step_dir + "/optimizer.safetensors", parts[3]);

  spo::training::NamedParameters params = {{"a.down", at::zeros({2, 4})}, {"a.up", at::zeros({4, 2})}};
  std::vector<at::Tensor> tensors;
  for (auto& [name, p] : params) tensors.push_back(p);
  torch::optim::AdamW optimizer(tensors, torch::optim::AdamWOptions(1e-3));
  const nlohmann::json identity = {{"prompts", 3}, {"settings", {{"k", 4}}}};
  spo::fuzz::expect_typed_errors([&] {
    const int64_t counter = spo::trainer::load_checkpoint(spo::training::CheckpointDir(root), params, optimizer, identity);
    // No `latest` file: no checkpoint, a fresh start (counter 0).
    if (counter != (parts[0].empty() ? 0 : 7)) spo::fuzz::fail("the counter is not the step `latest` names");
    for (auto& [name, p] : params) {
      auto it = optimizer.state().find(p.unsafeGetTensorImpl());
      if (it == optimizer.state().end()) continue;
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      if (!s.exp_avg().sizes().equals(p.sizes()) || !s.exp_avg_sq().sizes().equals(p.sizes())) {
        spo::fuzz::fail("optimizer state shape differs from its parameter");
      }
    }
  });
  return 0;
}

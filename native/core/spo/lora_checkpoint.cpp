#include "spo/lora_checkpoint.h"

#include "io/atomic_write.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "runtime/errors.h"

namespace spo::trainer {

// The LoRA tensors by stable names, for checkpoints and the optimizer state.
training::NamedParameters lora_parameters(const models::LoraSet& set) {
  training::NamedParameters out;
  for (const auto& layer : set.layers) {
    out.emplace_back(layer.name + ".down", layer.branch->down);
    out.emplace_back(layer.name + ".up", layer.branch->up);
  }
  return out;
}

void save_checkpoint(const training::CheckpointDir& dir, int64_t counter, const training::NamedParameters& params,
                     torch::optim::AdamW& optimizer, const nlohmann::json& identity) {
  const std::string path = dir.begin(counter);
  std::vector<std::pair<std::string, at::Tensor>> tensors(params.begin(), params.end());
  io::save_safetensors(path + "/lora.safetensors", tensors, {{"format", "spo-lora-state"}});
  training::save_adamw_state(path + "/optimizer.safetensors", optimizer, params);
  io::write_file_atomic(path + "/trainer_state.json",
                        nlohmann::json{{"counter", counter}, {"run", identity}}.dump(2) + "\n");
  dir.commit(counter);
}

int64_t load_checkpoint(const training::CheckpointDir& dir, const training::NamedParameters& params,
                        torch::optim::AdamW& optimizer, const nlohmann::json& identity) {
  const auto latest = dir.latest();
  if (!latest) return 0;
  const auto& [counter, path] = *latest;
  const auto state = io::read_json(path + "/trainer_state.json");
  require(state.is_object() && state.contains("run") && state["run"] == identity,
          "the checkpoint in " + path + " belongs to a different run (settings or prompts differ); "
          "use another checkpointDir or resume: false");
  auto file = io::SafeTensorsFile::open(path + "/lora.safetensors");
  at::NoGradGuard no_grad;
  for (const auto& [name, p] : params) {
    auto t = file->tensor(name);
    require(t.sizes() == p.sizes(), path + ": LoRA tensor " + name + " has the wrong shape");
    p.copy_(t);
  }
  training::load_adamw_state(path + "/optimizer.safetensors", optimizer, params);
  return counter;
}

}  // namespace spo::trainer

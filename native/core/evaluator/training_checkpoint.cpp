#include "evaluator/training_checkpoint.h"

#include "io/atomic_write.h"
#include "io/json_file.h"
#include "io/module_weights.h"
#include "runtime/errors.h"
#include "training/checkpoint_dir.h"

namespace spo::evaluator {

std::string save_training_checkpoint(const std::string& root, PreferenceModel& model, torch::optim::AdamW& optimizer,
                                     const training::NamedParameters& params, int64_t step,
                                     const nlohmann::json& settings) {
  training::CheckpointDir checkpoints(root);
  const std::string dir = checkpoints.begin(step);
  model.save(dir);
  training::save_adamw_state(dir + "/optimizer.safetensors", optimizer, params);
  io::write_file_atomic(dir + "/trainer_state.json",
                        nlohmann::json{{"step", step}, {"settings", settings}}.dump(2) + "\n");
  checkpoints.commit(step);
  return dir;
}

std::optional<int64_t> load_latest_checkpoint(const std::string& root, models::ClipModel& model,
                                              torch::optim::AdamW& optimizer, const training::NamedParameters& params,
                                              const nlohmann::json& settings) {
  training::CheckpointDir checkpoints(root);
  const auto latest = checkpoints.latest();
  if (!latest) return std::nullopt;
  const auto& [step, dir] = *latest;
  const auto state = io::read_json(dir + "/trainer_state.json");
  require(state.is_object() && state.contains("settings") && state["settings"] == settings,
          "the checkpoint in " + dir + " is of a different run (its settings " +
              (state.is_object() && state.contains("settings") ? state["settings"].dump() : std::string("are missing")) +
              ", this run's " + settings.dump() + "); use another checkpoint directory or resume: false");
  io::load_module_weights(*model, io::open_component_weights(dir));
  training::load_adamw_state(dir + "/optimizer.safetensors", optimizer, params);
  return step;
}

}  // namespace spo::evaluator

// Loading a CLIPModel directory (config.json + model.safetensors, PickScore's
// hub layout or one written by the engine) as a preference model, strictly:
// every key and shape must match. Accepted key layouts:
//   - the hub's CLIPModel names (plain PickScore);
//   - the same plus the step-aware adaLN keys (written by the engine, or the
//     authors' checkpoint converted to safetensors);
//   - either with every key under "model." (the authors' StepAwarePreferenceModel
//     state dict), which is stripped.
// The old persistent position_ids buffers are ignored.
#pragma once
#include <optional>
#include <string>

#include "models/clip_model.h"

namespace spo::models {

struct ClipModelLoadOptions {
  // Unset: the config's spo_time_conditioning, else step-aware when the
  // weights hold adaLN keys, else plain. Asking for a time-conditioned model
  // over plain weights adds the adaLN layers initialised as docs/method.md §4 says
  // (the model then equals plain CLIP at every t until trained).
  std::optional<TimeConditioning> time_conditioning;
  uint64_t init_seed = 42;  // the time MLP's N(0, 0.02) draw in that case
};

ClipModelConfig read_clip_model_config(const std::string& dir);

ClipModel load_clip_model(const std::string& dir, const at::TensorOptions& options,
                          const ClipModelLoadOptions& load_options = {});

}  // namespace spo::models

// The step-aware preference model as the engine uses it (docs/method.md §4):
// a CLIPModel directory (PickScore layout, optionally with the adaLN time
// conditioning) plus its tokenizer, scoring images against prompts at a
// timestep: s = exp(logit_scale) * cos(image, text).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evaluator/image_scorer.h"
#include "models/clip_model.h"
#include "models/clip_model_loading.h"
#include "text/clip_tokenizer.h"

namespace spo::evaluator {

struct PreferenceModelOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  // Unset: as the directory says (see models::ClipModelLoadOptions).
  std::optional<models::TimeConditioning> time_conditioning;
  uint64_t init_seed = 42;
};

class PreferenceModel : public ImageScorer {
 public:
  // <dir>: config.json, model.safetensors (or shards), vocab.json + merges.txt.
  static std::shared_ptr<PreferenceModel> load(const std::string& dir, const PreferenceModelOptions& options = {});

  models::TimeConditioning time_conditioning() const { return model_->config.time_conditioning; }
  int64_t image_size() const { return model_->config.vision.image_size; }
  const PreferenceModelOptions& options() const { return options_; }
  models::ClipModel& model() { return model_; }
  const text::ClipTokenizer& tokenizer() const { return tokenizer_; }

  // Prompts -> padded ids [B, 77] (max_position_embeddings when smaller), int64 CPU.
  at::Tensor tokenize(const std::vector<std::string>& prompts) const;

  // The differentiable core: preprocessed pixels [B, 3, S, S], ids [B, L],
  // timesteps [B] -> scores [B] fp32 on the model's device.
  at::Tensor score_pixels(const at::Tensor& pixels, const at::Tensor& input_ids, const at::Tensor& timesteps);

  // Images [B, 3, H, W] in about [-1, 1] (any size; preprocessed here), one
  // prompt and one timestep per image -> scores [B] fp32 CPU, no gradients,
  // in chunks of at most max_batch images (0: one batch).
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                          const at::Tensor& timesteps, int64_t max_batch = 0) override;

  // Writes config.json (with spo_time_conditioning), model.safetensors and the
  // tokenizer files into `dir` (created if needed), each file atomically.
  void save(const std::string& dir) const;
  const std::string& source_dir() const { return dir_; }

 private:
  PreferenceModel(std::string dir, PreferenceModelOptions options, models::ClipModel model,
                  text::ClipTokenizer tokenizer)
      : dir_(std::move(dir)), options_(options), model_(std::move(model)), tokenizer_(std::move(tokenizer)) {}
  std::string dir_;
  PreferenceModelOptions options_;
  models::ClipModel model_;
  text::ClipTokenizer tokenizer_;
};

// Timesteps as [B] int64 in [0, 1000) (a single value repeated B times), validated.
at::Tensor checked_timesteps(const at::Tensor& timesteps, int64_t batch, const std::string& what);

}  // namespace spo::evaluator

// Prompts to the UNet's text conditioning, as diffusers' SD pipelines do it:
//   SD-1.5: last_hidden_state of `text_encoder`;
//   SDXL:   penultimate hidden states of `text_encoder` and `text_encoder_2`
//           concatenated on the feature axis, pooled = text_embeds of the second.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/clip_text_model.h"
#include "pipeline/model_index.h"
#include "text/clip_tokenizer.h"

namespace spo::pipeline {

struct PromptEmbeddings {
  at::Tensor hidden;  // [B, L, D] in the run dtype, on the run device
  at::Tensor pooled;  // [B, P] (SDXL) or undefined
};

class PromptEncoder {
 public:
  // The tokenizer(s) and text encoder(s) of pipeline directory `dir`.
  static PromptEncoder load(const std::string& dir, PipelineKind kind, const at::TensorOptions& options);

  PromptEmbeddings encode(const std::vector<std::string>& texts);
  // All-zero embeddings of `batch` rows (SDXL's force_zeros_for_empty_prompt).
  PromptEmbeddings zeros(int64_t batch);

  int64_t hidden_size() const;  // D of `hidden` (sum of both encoders for SDXL)
  int64_t pooled_size() const;  // P, 0 without a second encoder
  bool has_second_encoder() const { return encoder_2_.has_value(); }

 private:
  PromptEncoder() = default;

  std::optional<text::ClipTokenizer> tokenizer_, tokenizer_2_;
  std::optional<models::ClipTextModel> encoder_;
  std::optional<models::ClipTextModelWithProjection> encoder_2_;
  at::TensorOptions options_;
};

}  // namespace spo::pipeline

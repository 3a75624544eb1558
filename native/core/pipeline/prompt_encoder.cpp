#include "pipeline/prompt_encoder.h"

#include "models/clip_text_loading.h"
#include "runtime/errors.h"

namespace spo::pipeline {
namespace {

// A tokenizer whose ids or length the encoder cannot take would index out of
// its embedding tables: refuse the pair before any weight is read.
void check_pair(const text::ClipTokenizer& tok, const models::ClipTextConfig& config, const std::string& tok_dir,
                const std::string& enc_dir) {
  require(tok.vocab_size() <= config.vocab_size,
          tok_dir + " has " + std::to_string(tok.vocab_size()) + " tokens but " + enc_dir + " embeds only " +
              std::to_string(config.vocab_size));
  require(tok.model_max_length() <= config.max_position_embeddings,
          tok_dir + " pads to " + std::to_string(tok.model_max_length()) + " tokens but " + enc_dir + " has " +
              std::to_string(config.max_position_embeddings) + " positions");
}

}  // namespace

PromptEncoder PromptEncoder::load(const std::string& dir, PipelineKind kind, const at::TensorOptions& options) {
  PromptEncoder p;
  p.options_ = options;
  p.tokenizer_ = text::ClipTokenizer::from_directory(dir + "/tokenizer");
  check_pair(*p.tokenizer_, models::read_clip_text_config(dir + "/text_encoder"), dir + "/tokenizer",
             dir + "/text_encoder");
  if (kind == PipelineKind::StableDiffusionXL) {
    p.tokenizer_2_ = text::ClipTokenizer::from_directory(dir + "/tokenizer_2");
    check_pair(*p.tokenizer_2_, models::read_clip_text_config(dir + "/text_encoder_2"), dir + "/tokenizer_2",
               dir + "/text_encoder_2");
    require(p.tokenizer_->model_max_length() == p.tokenizer_2_->model_max_length(),
            "tokenizer and tokenizer_2 pad to different lengths: their states cannot be concatenated");
  }
  p.encoder_ = models::load_clip_text_model(dir + "/text_encoder", options);
  p.encoder_.value()->eval();
  if (kind == PipelineKind::StableDiffusionXL) {
    p.encoder_2_ = models::load_clip_text_model_with_projection(dir + "/text_encoder_2", options);
    p.encoder_2_.value()->eval();
  }
  return p;
}

PromptEmbeddings PromptEncoder::encode(const std::vector<std::string>& texts) {
  require(!texts.empty(), "at least one prompt is needed");
  at::NoGradGuard no_grad;
  const auto ids = tokenizer_->encode_batch(texts, tokenizer_->model_max_length()).to(options_.device());
  auto first = (*encoder_)->forward(ids);
  if (!encoder_2_) return {first.last_hidden_state, at::Tensor()};
  const auto ids_2 = tokenizer_2_->encode_batch(texts, tokenizer_2_->model_max_length()).to(options_.device());
  auto second = (*encoder_2_)->forward(ids_2);
  return {at::cat({first.penultimate_hidden_state, second.penultimate_hidden_state}, -1), second.text_embeds};
}

PromptEmbeddings PromptEncoder::zeros(int64_t batch) {
  const int64_t length = tokenizer_->model_max_length();
  PromptEmbeddings e;
  e.hidden = at::zeros({batch, length, hidden_size()}, options_);
  if (encoder_2_) e.pooled = at::zeros({batch, pooled_size()}, options_);
  return e;
}

int64_t PromptEncoder::hidden_size() const {
  int64_t d = (*encoder_)->text_model->config.hidden_size;
  if (encoder_2_) d += (*encoder_2_)->text_model->config.hidden_size;
  return d;
}

int64_t PromptEncoder::pooled_size() const {
  return encoder_2_ ? (*encoder_2_)->text_model->config.projection_dim : 0;
}

}  // namespace spo::pipeline

#include "pretraining/clip_pretraining.h"

#include <torch/torch.h>

#include "evaluator/clip_preprocess.h"
#include "pretraining/world_configs.h"
#include "pretraining/world_dataset.h"

namespace spo::pretraining {
namespace {

// Cosine logits [B, B] scaled by exp(logit_scale): images x texts.
at::Tensor logits(models::ClipModel& clip, const text::ClipTokenizer& tokenizer, const WorldBatch& batch,
                  const std::vector<std::string>& texts) {
  const int64_t b = static_cast<int64_t>(batch.prompts.size());
  auto pixels = evaluator::clip_preprocess(batch.images, clip->config.vision.image_size);
  auto image = clip->image_features(pixels, at::zeros({b}, at::kLong));
  auto text = clip->text_features(tokenizer.encode_batch(texts, clip->config.text.max_position_embeddings));
  image = image / image.norm(2, -1, true);
  text = text / text.norm(2, -1, true);
  return clip->logit_scale.exp() * image.matmul(text.t());
}

}  // namespace

ClipStageResult train_world_clip(models::ClipModel& clip, const text::ClipTokenizer& tokenizer,
                                 const std::vector<std::string>& train_prompts,
                                 const std::vector<std::string>& held_out_prompts, const StageOptions& o,
                                 const JobContext& ctx, double caption_share) {
  ClipStageResult out;
  clip->train();
  auto loss_of = [&](int64_t step) {
    auto batch = world_batch(o.track, train_prompts, o.batch_size, kWorldImageSize, o.seed, step, /*distinct=*/true,
                             caption_share);
    auto l = logits(clip, tokenizer, batch, batch.captions);
    auto target = at::arange(o.batch_size, at::kLong);
    return 0.5 * (at::cross_entropy_loss(l, target) + at::cross_entropy_loss(l.t(), target));
  };
  out.stage = run_stage("clip", clip->parameters(), o, loss_of, ctx);
  clip->eval();
  at::NoGradGuard no_grad;
  int64_t right = 0, total = 0;
  for (int64_t round = 0; round < 4; ++round) {
    auto batch = world_batch(o.track, held_out_prompts, 64, kWorldImageSize, o.seed ^ 0xC11F, round, true);
    auto best = logits(clip, tokenizer, batch, batch.prompts).argmax(1);
    right += best.eq(at::arange(64, at::kLong)).sum().item<int64_t>();
    total += 64;
  }
  out.retrieval_accuracy = static_cast<double>(right) / static_cast<double>(total);
  return out;
}

}  // namespace spo::pretraining

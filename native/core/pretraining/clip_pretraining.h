// Stage 3: the world's "PickScore": a plain CLIPModel first learns image-text
// matching contrastively (CLIP's symmetric InfoNCE over a batch of distinct
// prompts and their renders), as PickScore started from a contrastive CLIP.
// Preference fine-tuning on judged pairs comes after (evaluator/preference_training).
// `caption_share`: the share of training captions that name their render's
// defects (defect_captions.h); retrieval is measured on the prompts alone.
#pragma once
#include <string>
#include <vector>

#include "models/clip_model.h"
#include "pretraining/stage_loop.h"
#include "text/clip_tokenizer.h"

namespace spo::pretraining {

struct ClipStageResult {
  StageResult stage;
  double retrieval_accuracy = 0;  // held-out: share of images whose own prompt scores highest in a batch of 64
};

ClipStageResult train_world_clip(models::ClipModel& clip, const text::ClipTokenizer& tokenizer,
                                 const std::vector<std::string>& train_prompts,
                                 const std::vector<std::string>& held_out_prompts, const StageOptions& options,
                                 const JobContext& ctx, double caption_share = 0);

}  // namespace spo::pretraining

// The preference model's image preprocessing, exactly as the SPO authors apply
// it to decoded images (docs/method.md §4): [-1, 1] -> bicubic resize (no
// antialiasing) so the short side is `size` -> centre crop to size x size when
// not square -> (x / 2 + 0.5).clamp(0, 1) -> CLIP mean/std normalisation.
// PickScore's size is 224; a model's own size is its vision image_size.
#pragma once
#include <ATen/ATen.h>

namespace spo::evaluator {

struct ResizePlan {
  int64_t height = 0, width = 0;        // after the resize: int(v * size / short + 0.5)
  int64_t crop_top = 0, crop_left = 0;  // torchvision's CenterCrop: round((H - size) / 2), half to even
};

ResizePlan resize_plan(int64_t height, int64_t width, int64_t size);

// images [B, 3, H, W] floating, about [-1, 1] -> [B, 3, size, size] fp32, normalised.
at::Tensor clip_preprocess(const at::Tensor& images, int64_t size);

// The CLIP image processor's statistics (OpenAI CLIP, used by PickScore).
constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

}  // namespace spo::evaluator

#include "evaluator/clip_preprocess.h"

#include <cmath>

#include "runtime/errors.h"

namespace spo::evaluator {

ResizePlan resize_plan(int64_t height, int64_t width, int64_t size) {
  require(height > 0 && width > 0 && size > 0, "preprocess: image and target sizes must be positive");
  ResizePlan p;
  const double scale = static_cast<double>(size) / static_cast<double>(std::min(height, width));
  // int(v + 0.5) as the authors round (v > 0, so truncation is floor).
  p.height = static_cast<int64_t>(static_cast<double>(height) * scale + 0.5);
  p.width = static_cast<int64_t>(static_cast<double>(width) * scale + 0.5);
  // Python's round() rounds halves to even; std::nearbyint does the same in the default rounding mode.
  p.crop_top = static_cast<int64_t>(std::nearbyint(static_cast<double>(p.height - size) / 2.0));
  p.crop_left = static_cast<int64_t>(std::nearbyint(static_cast<double>(p.width - size) / 2.0));
  return p;
}

at::Tensor clip_preprocess(const at::Tensor& images, int64_t size) {
  require(images.defined() && images.dim() == 4 && images.size(1) == 3,
          "preprocess: images must be [batch, 3, height, width], got " +
              (images.defined() ? c10::str(images.sizes()) : std::string("undefined")));
  require(at::isFloatingType(images.scalar_type()), "preprocess: images must be floating point in [-1, 1]");
  require(images.size(0) >= 1, "preprocess: the batch is empty");
  const ResizePlan p = resize_plan(images.size(2), images.size(3), size);
  auto x = images.to(at::kFloat);
  if (p.height != x.size(2) || p.width != x.size(3))
    x = at::upsample_bicubic2d(x, {p.height, p.width}, /*align_corners=*/false);
  if (p.height != p.width) x = x.slice(2, p.crop_top, p.crop_top + size).slice(3, p.crop_left, p.crop_left + size);
  x = (x / 2 + 0.5).clamp(0, 1);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(x.device());
  auto mean = at::tensor(at::ArrayRef<float>(kClipMean, 3), opts.device(at::kCPU)).to(x.device()).view({1, 3, 1, 1});
  auto std = at::tensor(at::ArrayRef<float>(kClipStd, 3), opts.device(at::kCPU)).to(x.device()).view({1, 3, 1, 1});
  return ((x - mean) / std).contiguous();
}

}  // namespace spo::evaluator

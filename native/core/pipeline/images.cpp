#include "pipeline/images.h"

#include "runtime/errors.h"

namespace spo::pipeline {

at::Tensor to_rgb8(const at::Tensor& images) {
  require(images.dim() == 4 && images.size(1) == 3, "images must be [B, 3, H, W]");
  const auto unit = ((images.to(at::kCPU, at::kFloat) + 1) / 2).clamp(0, 1);
  return (unit * 255).round().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

}  // namespace spo::pipeline

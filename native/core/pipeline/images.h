// Decoded images [B, 3, H, W] in [-1, 1] to 8-bit RGB, as diffusers' image
// processor does it: clamp((x + 1) / 2, 0, 1) * 255, rounded.
#pragma once
#include <ATen/ATen.h>

namespace spo::pipeline {

// -> uint8 [B, H, W, 3] on the CPU (interleaved RGB rows, ready for PNG).
at::Tensor to_rgb8(const at::Tensor& images);

}  // namespace spo::pipeline

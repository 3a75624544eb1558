#include "models/resnet_block.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlockOptions& o, const at::TensorOptions& t) : options(o) {
  if (options.out_channels == 0) options.out_channels = options.in_channels;
  const int64_t in = options.in_channels, out = options.out_channels;
  require(in > 0 && out > 0, "ResnetBlock2D: channel counts must be positive");
  require(options.temb_channels >= 0, "ResnetBlock2D: temb_channels must not be negative");
  require(options.groups > 0 && in % options.groups == 0 && out % options.groups == 0,
          "ResnetBlock2D: groups (" + std::to_string(options.groups) + ") must divide the channel counts (" +
              std::to_string(in) + ", " + std::to_string(out) + ")");
  require(options.output_scale_factor > 0, "ResnetBlock2D: output_scale_factor must be positive");
  activation(options.activation, at::empty({0}, t));  // refuses an unknown name at build time, not mid-forward

  norm1 = register_module("norm1", GroupNorm(options.groups, in, options.eps, true, t));
  conv1 = register_module("conv1", Conv2d(in, out, 3, 1, 1, true, t));
  if (options.temb_channels > 0)
    time_emb_proj = register_module("time_emb_proj", Linear(options.temb_channels, out, true, t));
  norm2 = register_module("norm2", GroupNorm(options.groups, out, options.eps, true, t));
  conv2 = register_module("conv2", Conv2d(out, out, 3, 1, 1, true, t));
  // diffusers adds the 1x1 shortcut exactly when the channel count changes.
  if (in != out) conv_shortcut = register_module("conv_shortcut", Conv2d(in, out, 1, 1, 0, true, t));
}

at::Tensor ResnetBlock2DImpl::forward(const at::Tensor& x, const at::Tensor& temb) {
  at::Tensor h = conv1(activation(options.activation, norm1(x)));
  if (time_emb_proj) {
    require(temb.defined(), "ResnetBlock2D: this block needs a time embedding");
    // [B, out] -> [B, out, 1, 1], added to every pixel before the second norm.
    h = h + time_emb_proj(activation(options.activation, temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2(activation(options.activation, norm2(h)));  // dropout is the identity at inference
  const at::Tensor shortcut = conv_shortcut ? conv_shortcut(x) : x;
  at::Tensor out = shortcut + h;
  if (options.output_scale_factor != 1.0) out = out / options.output_scale_factor;
  return out;
}

}  // namespace spo::models

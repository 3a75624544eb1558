#include "models/vae_encoder.h"

#include <ATen/ATen.h>

namespace spo::models {

VaeEncoderImpl::VaeEncoderImpl(const AutoencoderKLConfig& c, const at::TensorOptions& t) {
  c.validate();
  const VaeBlockOptions block{c.norm_num_groups, 1e-6, c.act_fn};
  const auto& ch = c.block_out_channels;
  conv_in = register_module("conv_in", Conv2d(c.in_channels, ch.front(), 3, 1, 1, true, t));
  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t in = i == 0 ? ch.front() : ch[i - 1];
    const bool last = i + 1 == ch.size();
    down_blocks->push_back(DownEncoderBlock2D(in, ch[i], c.layers_per_block, !last, block, t));
  }
  mid_block = register_module("mid_block", VaeMidBlock2D(ch.back(), c.mid_block_add_attention, block, t));
  conv_norm_out = register_module("conv_norm_out", GroupNorm(c.norm_num_groups, ch.back(), 1e-6, true, t));
  // Twice the latent channels: the mean and the log-variance.
  conv_out = register_module("conv_out", Conv2d(ch.back(), 2 * c.latent_channels, 3, 1, 1, true, t));
}

at::Tensor VaeEncoderImpl::forward(const at::Tensor& x) {
  at::Tensor h = conv_in(x);
  for (const auto& block : *down_blocks) h = block->as<DownEncoderBlock2D>()->forward(h);
  h = mid_block(h);
  return conv_out(at::silu(conv_norm_out(h)));  // diffusers' conv_act is SiLU whatever act_fn says
}

}  // namespace spo::models

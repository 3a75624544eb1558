#include "models/vae_decoder.h"

#include <ATen/ATen.h>

namespace spo::models {

VaeDecoderImpl::VaeDecoderImpl(const AutoencoderKLConfig& c, const at::TensorOptions& t) {
  c.validate();
  const VaeBlockOptions block{c.norm_num_groups, 1e-6, c.act_fn};
  // The decoder walks the channel list backwards: up_blocks.0 is the widest.
  const std::vector<int64_t> ch(c.block_out_channels.rbegin(), c.block_out_channels.rend());
  conv_in = register_module("conv_in", Conv2d(c.latent_channels, ch.front(), 3, 1, 1, true, t));
  mid_block = register_module("mid_block", VaeMidBlock2D(ch.front(), c.mid_block_add_attention, block, t));
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t in = i == 0 ? ch.front() : ch[i - 1];
    const bool last = i + 1 == ch.size();
    up_blocks->push_back(UpDecoderBlock2D(in, ch[i], c.layers_per_block + 1, !last, block, t));
  }
  conv_norm_out = register_module("conv_norm_out", GroupNorm(c.norm_num_groups, ch.back(), 1e-6, true, t));
  conv_out = register_module("conv_out", Conv2d(ch.back(), c.out_channels, 3, 1, 1, true, t));
}

at::Tensor VaeDecoderImpl::forward(const at::Tensor& z) {
  at::Tensor h = mid_block(conv_in(z));
  for (const auto& block : *up_blocks) h = block->as<UpDecoderBlock2D>()->forward(h);
  return conv_out(at::silu(conv_norm_out(h)));
}

}  // namespace spo::models

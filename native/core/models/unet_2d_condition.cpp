#include "models/unet_2d_condition.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

UNetBlockCommon block_common(const UNetConfig& c, size_t block, bool cross_attention) {
  UNetBlockCommon b;
  b.temb_channels = c.time_embed_dim();
  b.groups = c.norm_num_groups;
  b.eps = c.norm_eps;
  b.act = c.act_fn;
  b.cross_attention = cross_attention;
  b.heads = c.num_heads[block];
  b.transformer_layers = c.transformer_layers_per_block[block];
  b.cross_attention_dim = c.cross_attention_dim[block];
  b.use_linear_projection = c.use_linear_projection;
  return b;
}

}  // namespace

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNetConfig& cfg, const at::TensorOptions& o) : config(cfg) {
  validate_unet_config(config);
  const auto& ch = config.block_out_channels;
  const size_t n = ch.size();
  const int64_t temb = config.time_embed_dim();

  conv_in = register_module(
      "conv_in", Conv2d(config.in_channels, ch[0], config.conv_in_kernel, 1, (config.conv_in_kernel - 1) / 2, true, o));
  time_embedding = register_module("time_embedding", TimestepEmbedding(ch[0], temb, config.act_fn, o));
  if (config.has_text_time())
    add_embedding = register_module(
        "add_embedding", TimestepEmbedding(config.projection_class_embeddings_input_dim, temb, config.act_fn, o));

  down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const bool attn = config.down_block_types[i] == "CrossAttnDownBlock2D";
    const int64_t in = i == 0 ? ch[0] : ch[i - 1];
    down_blocks->push_back(UNetDownBlock(block_common(config, i, attn), in, ch[i], config.layers_per_block[i],
                                         i + 1 < n, config.downsample_padding, o));
  }

  mid_block = register_module(
      "mid_block", UNetMidBlock2DCrossAttn(block_common(config, n - 1, true), ch[n - 1], config.mid_block_scale_factor, o));

  // Up block i mirrors down block n-1-i: per-block settings are read reversed.
  up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const size_t mirror = n - 1 - i;
    const bool attn = config.up_block_types[i] == "CrossAttnUpBlock2D";
    const int64_t prev = ch[std::min(mirror + 1, n - 1)];
    const int64_t in = ch[mirror == 0 ? 0 : mirror - 1];
    up_blocks->push_back(UNetUpBlock(block_common(config, mirror, attn), in, prev, ch[mirror],
                                     config.layers_per_block[mirror] + 1, i + 1 < n, o));
  }

  conv_norm_out = register_module("conv_norm_out", GroupNorm(config.norm_num_groups, ch[0], config.norm_eps, true, o));
  conv_out = register_module("conv_out", Conv2d(ch[0], config.out_channels, config.conv_out_kernel, 1,
                                                (config.conv_out_kernel - 1) / 2, true, o));
}

void UNet2DConditionModelImpl::check_inputs(const at::Tensor& sample, const at::Tensor& context) const {
  require(sample.defined() && sample.dim() == 4 && sample.size(1) == config.in_channels,
          "UNet: sample must be [B, " + std::to_string(config.in_channels) + ", H, W], got " +
              (sample.defined() ? shape_of(sample) : "nothing"));
  require(at::isFloatingType(sample.scalar_type()), "UNet: sample must be a floating-point tensor");
  require(sample.size(0) > 0 && sample.size(2) > 0 && sample.size(3) > 0, "UNet: sample must not be empty");
  const int64_t dim = config.cross_attention_dim.back();
  require(context.defined() && context.dim() == 3 && context.size(0) == sample.size(0) && context.size(1) > 0 &&
              context.size(2) == dim,
          "UNet: encoder_hidden_states must be [" + std::to_string(sample.size(0)) + ", L, " + std::to_string(dim) +
              "], got " + (context.defined() ? shape_of(context) : "nothing"));
}

at::Tensor UNet2DConditionModelImpl::embed_time(const at::Tensor& timesteps, int64_t batch, at::ScalarType dtype) {
  require(timesteps.defined() && timesteps.dim() <= 1, "UNet: timesteps must be a scalar or a 1-D tensor");
  require(!timesteps.is_complex() && timesteps.scalar_type() != at::kBool, "UNet: timesteps must be real numbers");
  at::Tensor t = timesteps.reshape({-1});
  require(t.size(0) == 1 || t.size(0) == batch, "UNet: timesteps must hold 1 or " + std::to_string(batch) +
                                                    " values (one per sample), got " + std::to_string(t.size(0)));
  t = t.to(conv_in->weight.device()).expand({batch});
  at::Tensor emb = timestep_sinusoid(t, config.block_out_channels[0], config.flip_sin_to_cos, config.freq_shift);
  return time_embedding(emb.to(dtype));
}

at::Tensor UNet2DConditionModelImpl::embed_added(const UNetAddedConditions& a, int64_t batch, at::ScalarType dtype) {
  const int64_t proj = config.projection_class_embeddings_input_dim, tdim = config.addition_time_embed_dim;
  require(a.text_embeds.defined() && a.time_ids.defined(),
          "UNet: this model (addition_embed_type \"text_time\") needs text_embeds and time_ids");
  require(a.text_embeds.dim() == 2 && a.text_embeds.size(0) == batch && a.time_ids.dim() == 2 &&
              a.time_ids.size(0) == batch,
          "UNet: text_embeds must be [" + std::to_string(batch) + ", D] and time_ids [" + std::to_string(batch) +
              ", N], got " + shape_of(a.text_embeds) + " and " + shape_of(a.time_ids));
  require(a.text_embeds.size(1) + a.time_ids.size(1) * tdim == proj,
          "UNet: text_embeds width (" + std::to_string(a.text_embeds.size(1)) + ") + time_ids count (" +
              std::to_string(a.time_ids.size(1)) + ") x " + std::to_string(tdim) +
              " must equal projection_class_embeddings_input_dim (" + std::to_string(proj) + ")");
  // Each id gets its own sinusoid; the [B*N, tdim] rows are laid side by side per sample.
  at::Tensor ids = a.time_ids.to(conv_in->weight.device()).reshape({-1});
  at::Tensor time_embeds = timestep_sinusoid(ids, tdim, config.flip_sin_to_cos, config.freq_shift).reshape({batch, -1});
  at::Tensor joined = at::cat({a.text_embeds.to(time_embeds.device(), dtype), time_embeds.to(dtype)}, 1);
  return add_embedding(joined);
}

at::Tensor UNet2DConditionModelImpl::forward(const at::Tensor& sample, const at::Tensor& timesteps,
                                             const at::Tensor& encoder_hidden_states, const UNetAddedConditions& added) {
  check_inputs(sample, encoder_hidden_states);
  const int64_t batch = sample.size(0);
  const auto dtype = sample.scalar_type();
  if (!config.has_text_time())
    require(!added.text_embeds.defined() && !added.time_ids.defined(),
            "UNet: text_embeds / time_ids given, but this model has no added conditioning");

  at::Tensor temb = embed_time(timesteps, batch, dtype);
  if (config.has_text_time()) temb = temb + embed_added(added, batch, dtype);

  const at::Tensor context = encoder_hidden_states.to(dtype);
  at::Tensor h = config.center_input_sample ? sample * 2.0 - 1.0 : sample;
  h = conv_in(h);
  std::vector<at::Tensor> skips{h};
  for (const auto& block : *down_blocks)
    h = block->as<UNetDownBlock>()->forward(h, temb, context, skips);
  h = mid_block(h, temb, context);

  for (size_t i = 0; i < up_blocks->size(); ++i) {
    auto* block = up_blocks[i]->as<UNetUpBlock>();
    const size_t used = block->resnets->size();
    // Upsample to the size of the skip the next block consumes first: 2x for
    // even sides, and the right size when a downsampler rounded an odd side up.
    std::optional<std::vector<int64_t>> size;
    if (block->upsamplers) {
      require(skips.size() > used, "UNet: skip connections out of step (internal error)");
      const auto& next = skips[skips.size() - used - 1];
      size = std::vector<int64_t>{next.size(2), next.size(3)};
    }
    h = block->forward(h, temb, context, skips, size);
  }
  h = conv_out(activation(config.act_fn, conv_norm_out(h)));
  return h;
}

}  // namespace spo::models

namespace spo::models {

void UNet2DConditionModelImpl::set_gradient_checkpointing(bool enabled) {
  for (const auto& block : *down_blocks) block->as<UNetDownBlockImpl>()->gradient_checkpointing = enabled;
  mid_block->gradient_checkpointing = enabled;
  for (const auto& block : *up_blocks) block->as<UNetUpBlockImpl>()->gradient_checkpointing = enabled;
}

}  // namespace spo::models

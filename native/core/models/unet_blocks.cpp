#include "models/unet_blocks.h"

#include "models/gradient_checkpoint.h"

#include <ATen/ATen.h>

#include "runtime/errors.h"

namespace spo::models {
namespace {

ResnetBlock2D make_resnet(const UNetBlockCommon& c, int64_t in, int64_t out, double output_scale_factor,
                          const at::TensorOptions& o) {
  ResnetBlockOptions r;
  r.in_channels = in;
  r.out_channels = out;
  r.temb_channels = c.temb_channels;
  r.groups = c.groups;
  r.eps = c.eps;
  r.activation = c.act;
  r.output_scale_factor = output_scale_factor;
  return ResnetBlock2D(r, o);
}

Transformer2DModel make_transformer(const UNetBlockCommon& c, int64_t channels, const at::TensorOptions& o) {
  require(c.heads > 0 && channels % c.heads == 0, "UNet block: the head count must divide the channel count");
  Transformer2DOptions t;
  t.channels = channels;
  t.heads = c.heads;
  t.head_dim = channels / c.heads;
  t.layers = c.transformer_layers;
  t.cross_attention_dim = c.cross_attention_dim;
  t.norm_num_groups = c.groups;
  t.use_linear_projection = c.use_linear_projection;
  return Transformer2DModel(t, o);
}

at::Tensor run_attention(torch::nn::ModuleList& attentions, size_t i, const at::Tensor& h, const at::Tensor& context,
                         bool checkpoint) {
  if (!attentions) return h;
  auto* block = attentions[i]->as<Transformer2DModel>();
  if (!checkpoint) return block->forward(h, context);
  return checkpointed([block, context](const at::Tensor& x) { return block->forward(x, context); }, h);
}

at::Tensor run_resnet(torch::nn::ModuleList& resnets, size_t i, const at::Tensor& h, const at::Tensor& temb,
                      bool checkpoint) {
  auto* block = resnets[i]->as<ResnetBlock2D>();
  if (!checkpoint) return block->forward(h, temb);
  return checkpointed([block, temb](const at::Tensor& x) { return block->forward(x, temb); }, h);
}

}  // namespace

UNetDownBlockImpl::UNetDownBlockImpl(const UNetBlockCommon& c, int64_t in, int64_t out, int64_t layers,
                                     bool add_downsample, int64_t downsample_padding, const at::TensorOptions& o) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (c.cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    resnets->push_back(make_resnet(c, i == 0 ? in : out, out, 1.0, o));
    if (c.cross_attention) attentions->push_back(make_transformer(c, out, o));
  }
  if (add_downsample) {
    downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsamplers->push_back(Downsample2D(out, out, downsample_padding, o));
  }
}

at::Tensor UNetDownBlockImpl::forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                                      std::vector<at::Tensor>& skips) {
  at::Tensor h = x;
  for (size_t i = 0; i < resnets->size(); ++i) {
    h = run_resnet(resnets, i, h, temb, gradient_checkpointing);
    h = run_attention(attentions, i, h, context, gradient_checkpointing);
    skips.push_back(h);
  }
  if (downsamplers) {
    h = downsamplers[0]->as<Downsample2D>()->forward(h);
    skips.push_back(h);
  }
  return h;
}

UNetMidBlock2DCrossAttnImpl::UNetMidBlock2DCrossAttnImpl(const UNetBlockCommon& c, int64_t channels,
                                                         double output_scale_factor, const at::TensorOptions& o) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  attentions = register_module("attentions", torch::nn::ModuleList());
  resnets->push_back(make_resnet(c, channels, channels, output_scale_factor, o));
  attentions->push_back(make_transformer(c, channels, o));  // diffusers' num_layers = 1
  resnets->push_back(make_resnet(c, channels, channels, output_scale_factor, o));
}

at::Tensor UNetMidBlock2DCrossAttnImpl::forward(const at::Tensor& x, const at::Tensor& temb,
                                                const at::Tensor& context) {
  at::Tensor h = run_resnet(resnets, 0, x, temb, gradient_checkpointing);
  for (size_t i = 0; i < attentions->size(); ++i) {
    h = run_attention(attentions, i, h, context, gradient_checkpointing);
    h = run_resnet(resnets, i + 1, h, temb, gradient_checkpointing);
  }
  return h;
}

UNetUpBlockImpl::UNetUpBlockImpl(const UNetBlockCommon& c, int64_t in, int64_t prev, int64_t out, int64_t layers,
                                 bool add_upsample, const at::TensorOptions& o) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  if (c.cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    // The last resnet meets the skip taken before the matching down block (width `in`).
    const int64_t skip = i == layers - 1 ? in : out;
    const int64_t from_below = i == 0 ? prev : out;
    resnets->push_back(make_resnet(c, from_below + skip, out, 1.0, o));
    if (c.cross_attention) attentions->push_back(make_transformer(c, out, o));
  }
  if (add_upsample) {
    upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsamplers->push_back(Upsample2D(out, out, o));
  }
}

at::Tensor UNetUpBlockImpl::forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& context,
                                    std::vector<at::Tensor>& skips, std::optional<std::vector<int64_t>> upsample_size) {
  at::Tensor h = x;
  for (size_t i = 0; i < resnets->size(); ++i) {
    require(!skips.empty(), "UNet up block: no skip connection left (internal error)");
    h = at::cat({h, skips.back()}, 1);
    skips.pop_back();
    h = run_resnet(resnets, i, h, temb, gradient_checkpointing);
    h = run_attention(attentions, i, h, context, gradient_checkpointing);
  }
  if (upsamplers) {
    auto* up = upsamplers[0]->as<Upsample2D>();
    h = upsample_size ? up->forward(h, at::IntArrayRef(*upsample_size)) : up->forward(h);
  }
  return h;
}

}  // namespace spo::models

#include "models/vae_blocks.h"

namespace spo::models {
namespace {

ResnetBlock2D make_resnet(int64_t in, int64_t out, const VaeBlockOptions& b, const at::TensorOptions& t) {
  ResnetBlockOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = 0;  // the VAE has no time embedding
  o.groups = b.groups;
  o.eps = b.eps;
  o.activation = b.activation;
  return ResnetBlock2D(o, t);
}

at::Tensor run_resnet(const std::shared_ptr<torch::nn::Module>& m, const at::Tensor& x) {
  return m->as<ResnetBlock2D>()->forward(x);
}

}  // namespace

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in, int64_t out, int64_t num_layers, bool add_downsample,
                                               const VaeBlockOptions& b, const at::TensorOptions& t) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) resnets->push_back(make_resnet(i == 0 ? in : out, out, b, t));
  if (add_downsample) {
    downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsamplers->push_back(Downsample2D(out, out, /*padding=*/0, t));  // the VAE's right/bottom padding
  }
}

at::Tensor DownEncoderBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (const auto& r : *resnets) h = run_resnet(r, h);
  if (downsamplers) h = downsamplers[0]->as<Downsample2D>()->forward(h);
  return h;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in, int64_t out, int64_t num_layers, bool add_upsample,
                                           const VaeBlockOptions& b, const at::TensorOptions& t) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) resnets->push_back(make_resnet(i == 0 ? in : out, out, b, t));
  if (add_upsample) {
    upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsamplers->push_back(Upsample2D(out, out, t));
  }
}

at::Tensor UpDecoderBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (const auto& r : *resnets) h = run_resnet(r, h);
  if (upsamplers) h = upsamplers[0]->as<Upsample2D>()->forward(h);
  return h;
}

VaeMidBlock2DImpl::VaeMidBlock2DImpl(int64_t channels, bool add_attention, const VaeBlockOptions& b,
                                     const at::TensorOptions& t) {
  resnets = register_module("resnets", torch::nn::ModuleList());
  resnets->push_back(make_resnet(channels, channels, b, t));
  resnets->push_back(make_resnet(channels, channels, b, t));
  if (add_attention) {
    // diffusers: attention_head_dim = channels, so one head as wide as the block.
    AttentionOptions a;
    a.query_dim = channels;
    a.heads = 1;
    a.dim_head = channels;
    a.bias = true;
    a.out_bias = true;
    a.norm_num_groups = b.groups;
    a.eps = b.eps;
    a.residual_connection = true;
    a.rescale_output_factor = 1.0;
    attentions = register_module("attentions", torch::nn::ModuleList());
    attentions->push_back(Attention(a, t));
  }
}

at::Tensor VaeMidBlock2DImpl::forward(const at::Tensor& x) {
  at::Tensor h = run_resnet(resnets[0], x);
  if (attentions) h = attentions[0]->as<Attention>()->forward(h);
  return run_resnet(resnets[1], h);
}

}  // namespace spo::models

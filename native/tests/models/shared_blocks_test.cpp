// The blocks the VAE and the UNet share (ResnetBlock2D, Downsample2D,
// Upsample2D, Attention) against diffusers' modules with the same random
// weights (test/python/fixtures_vae.py), plus key names and refusals.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/attention.h"
#include "models/resnet_block.h"
#include "models/sampling.h"
#include "runtime/errors.h"

using namespace spo;
using namespace spo::models;

namespace {

const at::TensorOptions kCpu = at::TensorOptions().dtype(at::kFloat);

std::shared_ptr<io::SafeTensorsFile> blocks_fixture() {
  const std::string path = std::string(SPO_FIXTURE_ROOT) + "/models/vae/shared_blocks.safetensors";
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "missing fixture " << path << ": run test/python/fixtures_vae.py (make(\"" << SPO_FIXTURE_ROOT
                  << "/models/vae\"))";
    return nullptr;
  }
  return io::SafeTensorsFile::open(path);
}

// Copies the fixture tensors "<prefix>.<key>" into `module`, requiring the exact key set.
void load_prefixed(torch::nn::Module& module, const io::SafeTensorsFile& file, const std::string& prefix) {
  io::ShapeList expected;
  for (const auto& e : file.entries())
    if (e.name.rfind(prefix + ".", 0) == 0) expected.emplace_back(e.name.substr(prefix.size() + 1), e.shape);
  ASSERT_EQ(io::describe_differences(state_shapes(module), expected), "") << prefix;
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(true)) p.value().copy_(file.tensor(prefix + "." + p.key()));
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double err = (actual - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-4) << what << ": max abs error " << err;
}

std::vector<std::string> keys(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& [k, shape] : state_shapes(m)) out.push_back(k);
  return out;
}

}  // namespace

TEST(ResnetBlock2DTest, MatchesDiffusersWithTimeEmbedding) {
  auto file = blocks_fixture();
  if (!file) return;
  ResnetBlockOptions o;
  o.in_channels = 8;
  o.out_channels = 12;
  o.temb_channels = 16;
  o.groups = 4;
  ResnetBlock2D block(o, kCpu);
  load_prefixed(*block, *file, "resnet");
  torch::NoGradGuard no_grad;
  expect_close(block(file->tensor("resnet_in"), file->tensor("resnet_temb")), file->tensor("resnet_out"), "resnet");
}

TEST(ResnetBlock2DTest, KeysFollowTheOptions) {
  ResnetBlockOptions o;
  o.in_channels = 8;
  o.groups = 4;
  ResnetBlock2D plain(o, kCpu);  // the VAE's: no time embedding, no shortcut
  EXPECT_EQ(keys(*plain), (std::vector<std::string>{"norm1.weight", "norm1.bias", "conv1.weight", "conv1.bias",
                                                    "norm2.weight", "norm2.bias", "conv2.weight", "conv2.bias"}));
  EXPECT_EQ(plain->options.out_channels, 8);
  // Without temb the output is the residual sum of the unit-scale path.
  torch::NoGradGuard no_grad;
  for (auto& p : plain->parameters()) p.normal_();
  auto x = torch::randn({1, 8, 4, 4});
  auto h = plain->conv1(at::silu(plain->norm1(x)));
  h = plain->conv2(at::silu(plain->norm2(h)));
  EXPECT_TRUE(torch::allclose(plain(x), x + h, 1e-5, 1e-5));
}

TEST(ResnetBlock2DTest, RefusesBadOptionsAndMissingTemb) {
  ResnetBlockOptions o;
  o.in_channels = 6;
  o.groups = 4;
  EXPECT_THROW(ResnetBlock2D(o, kCpu), InvalidArgument);
  o.in_channels = 0;
  EXPECT_THROW(ResnetBlock2D(o, kCpu), InvalidArgument);
  o.in_channels = 8;
  o.activation = "relu6";
  EXPECT_THROW(ResnetBlock2D(o, kCpu), Unsupported);
  o.activation = "silu";
  o.temb_channels = 4;
  ResnetBlock2D with_temb(o, kCpu);
  EXPECT_THROW(with_temb(torch::zeros({1, 8, 2, 2})), InvalidArgument);
}

TEST(Sampling, DownAndUpMatchDiffusers) {
  auto file = blocks_fixture();
  if (!file) return;
  Downsample2D down(8, 8, 1, kCpu), down0(8, 8, 0, kCpu);
  Upsample2D up(8, 6, kCpu);
  load_prefixed(*down, *file, "down");
  load_prefixed(*down0, *file, "down0");
  load_prefixed(*up, *file, "up");
  torch::NoGradGuard no_grad;
  const auto y = file->tensor("sampling_in");  // odd sides: 7 x 9
  expect_close(down(y), file->tensor("down_out"), "downsample padding 1");
  expect_close(down0(y), file->tensor("down0_out"), "downsample padding 0");
  expect_close(up(y), file->tensor("up_out"), "upsample x2");
  std::vector<int64_t> size{15, 19};
  expect_close(up(y, size), file->tensor("up_sized_out"), "upsample to a size");
  EXPECT_THROW(Downsample2D(8, 8, 2, kCpu), InvalidArgument);
}

TEST(AttentionBlock, CrossAttentionMatchesDiffusers) {
  auto file = blocks_fixture();
  if (!file) return;
  AttentionOptions o;
  o.query_dim = 12;
  o.cross_attention_dim = 10;
  o.heads = 3;
  o.dim_head = 4;
  Attention attn(o, kCpu);
  load_prefixed(*attn, *file, "cross");
  EXPECT_EQ(keys(*attn), (std::vector<std::string>{"to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight",
                                                   "to_out.0.bias"}));
  torch::NoGradGuard no_grad;
  expect_close(attn(file->tensor("cross_in"), file->tensor("cross_context")), file->tensor("cross_out"), "cross");
}

TEST(AttentionBlock, SpatialPathIsGroupNormAttentionResidual) {
  AttentionOptions o;
  o.query_dim = 8;
  o.heads = 2;
  o.dim_head = 4;
  o.bias = true;
  o.norm_num_groups = 2;
  o.eps = 1e-6;
  o.residual_connection = true;
  o.rescale_output_factor = 2.0;
  Attention attn(o, kCpu);
  torch::NoGradGuard no_grad;
  for (auto& p : attn->parameters()) p.normal_();
  auto x = torch::randn({2, 8, 3, 5});
  // The same computation written out with plain ops.
  auto t = at::group_norm(x, 2, attn->group_norm->weight, attn->group_norm->bias, 1e-6).flatten(2).transpose(1, 2);
  auto heads = [](const at::Tensor& v) { return v.view({2, 15, 2, 4}).transpose(1, 2); };
  auto q = heads(at::linear(t, attn->to_q->weight, attn->to_q->bias));
  auto k = heads(at::linear(t, attn->to_k->weight, attn->to_k->bias));
  auto v = heads(at::linear(t, attn->to_v->weight, attn->to_v->bias));
  auto a = torch::softmax(q.matmul(k.transpose(-1, -2)) / 2.0, -1).matmul(v).transpose(1, 2).reshape({2, 15, 8});
  auto outl = attn->to_out[0]->as<Linear>();
  auto ref = (at::linear(a, outl->weight, outl->bias).transpose(1, 2).reshape({2, 8, 3, 5}) + x) / 2.0;
  EXPECT_TRUE(torch::allclose(attn(x), ref, 1e-5, 1e-5));
}

TEST(AttentionBlock, RefusesBadShapes) {
  AttentionOptions o;
  o.query_dim = 8;
  o.cross_attention_dim = 6;
  o.heads = 2;
  o.dim_head = 4;
  Attention attn(o, kCpu);
  EXPECT_THROW(attn(torch::zeros({1, 3, 8})), InvalidArgument);                        // no context
  EXPECT_THROW(attn(torch::zeros({1, 3, 8}), torch::zeros({1, 2, 5})), InvalidArgument);  // wrong context width
  EXPECT_THROW(attn(torch::zeros({1, 3, 7}), torch::zeros({1, 2, 6})), InvalidArgument);  // wrong query width
  o.norm_num_groups = 3;
  EXPECT_THROW(Attention(o, kCpu), InvalidArgument);
}

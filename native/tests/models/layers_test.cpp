// The basic layers against torch::nn's own modules with the same weights.
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "models/flop_counter.h"
#include "models/layers.h"

using namespace spo::models;

TEST(Layers, MatchTorchNn) {
  torch::manual_seed(0);
  const auto o = at::TensorOptions().dtype(at::kFloat);
  Linear lin(8, 5, true, o);
  torch::nn::Linear ref_lin(8, 5);
  lin->weight.data().copy_(ref_lin->weight);
  lin->bias.data().copy_(ref_lin->bias);
  auto x = torch::randn({3, 8});
  EXPECT_TRUE(torch::allclose(lin(x), ref_lin(x), 1e-6, 1e-6));

  Conv2d conv(4, 6, 3, 2, 1, true, o);
  torch::nn::Conv2d ref_conv(torch::nn::Conv2dOptions(4, 6, 3).stride(2).padding(1));
  conv->weight.data().copy_(ref_conv->weight);
  conv->bias.data().copy_(ref_conv->bias);
  auto img = torch::randn({2, 4, 9, 9});
  EXPECT_TRUE(torch::allclose(conv(img), ref_conv(img), 1e-5, 1e-6));

  GroupNorm gn(2, 6, 1e-5, true, o);
  gn->weight.data().normal_();
  gn->bias.data().normal_();
  torch::nn::GroupNorm ref_gn(torch::nn::GroupNormOptions(2, 6));
  ref_gn->weight.data().copy_(gn->weight);
  ref_gn->bias.data().copy_(gn->bias);
  auto h = torch::randn({2, 6, 5, 5});
  EXPECT_TRUE(torch::allclose(gn(h), ref_gn(h), 1e-5, 1e-6));
}

TEST(Layers, MetaDeviceAllocatesNothingAndKeepsNames) {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kFloat);
  Linear big(100000, 100000, true, meta);  // 40 GB if it were real
  const auto shapes = state_shapes(*big);
  ASSERT_EQ(shapes.size(), 2u);
  EXPECT_EQ(shapes[0].first, "weight");
  EXPECT_EQ(shapes[0].second, (std::vector<int64_t>{100000, 100000}));
  EXPECT_EQ(shapes[1].first, "bias");
}

TEST(Layers, AttentionMatchesTheFormula) {
  auto q = torch::randn({2, 3, 7, 8}), k = torch::randn({2, 3, 5, 8}), v = torch::randn({2, 3, 5, 8});
  auto ref = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(8.0), -1).matmul(v);
  EXPECT_TRUE(torch::allclose(attention(q, k, v), ref, 1e-5, 1e-6));
}

TEST(Layers, FlopsAreCountedFromShapesOnlyInsideAScope) {
  const auto o = at::TensorOptions().dtype(at::kFloat);
  Linear lin(8, 5, true, o);
  Conv2d conv(4, 6, 3, 2, 1, false, o);
  lin->weight.data().normal_();
  lin->bias.data().zero_();
  conv->weight.data().normal_();
  lin(torch::randn({3, 7, 8}));  // outside any scope: not counted anywhere
  FlopCountScope scope;
  lin(torch::randn({3, 7, 8}));                 // 2 * 21 rows * 8 * 5
  conv(torch::randn({2, 4, 9, 9}));             // output 2x6x5x5, 2 * 300 * (4 * 3 * 3)
  attention(torch::randn({2, 3, 7, 8}), torch::randn({2, 3, 5, 8}), torch::randn({2, 3, 5, 8}));  // 4 * 42 * 5 * 8
  EXPECT_DOUBLE_EQ(scope.flops(), 2.0 * 21 * 8 * 5 + 2.0 * 300 * 36 + 4.0 * 42 * 5 * 8);
}

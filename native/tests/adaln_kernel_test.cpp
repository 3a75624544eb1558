// The fused adaLN modulate and gated residual (CPU loops and, where a GPU
// exists, the CUDA kernels) against at::layer_norm and broadcasting ATen ops,
// forward and backward through autograd.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/cuda.h>

#include <string>
#include <vector>

#include "kernels/adaln/adaln.h"
#include "kernels/ddim_step/ddim_step.h"  // cuda_kernels_compiled()
#include "runtime/errors.h"

using namespace spo::kernels;

namespace {

constexpr double kEps = 1e-5;

// |a - b| <= tol * (1 + |b|), element-wise.
::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& want, double tol, const std::string& what) {
  if (!got.defined() || !want.defined()) return ::testing::AssertionFailure() << what << ": missing tensor";
  const auto g = got.detach().to(at::kDouble).cpu(), w = want.detach().to(at::kDouble).cpu();
  if (g.sizes() != w.sizes()) return ::testing::AssertionFailure() << what << ": shapes differ";
  if (g.numel() == 0) return ::testing::AssertionSuccess();
  const double worst = ((g - w).abs() / (1 + w.abs())).max().item<double>();
  if (!(worst <= tol)) return ::testing::AssertionFailure() << what << ": worst scaled error " << worst << " > " << tol;
  return ::testing::AssertionSuccess();
}

struct Inputs {
  at::Tensor x, w, b, shift, scale, residual, gate;

  std::vector<at::Tensor*> all() { return {&x, &w, &b, &shift, &scale, &residual, &gate}; }

  // Fresh leaves with the same values, for a second independent graph.
  Inputs leaves(bool requires_grad) const {
    Inputs c = *this;
    for (auto* t : c.all())
      if (t->defined()) *t = t->detach().clone().requires_grad_(requires_grad);
    return c;
  }
};

Inputs random_inputs(int64_t batch, int64_t tokens, int64_t dim, bool affine, at::ScalarType dtype = at::kFloat,
                     at::Device device = at::kCPU) {
  auto opt = at::TensorOptions().dtype(dtype).device(device);
  Inputs in;
  in.x = (at::randn({batch, tokens, dim}) * 3 + 0.5).to(opt);
  if (affine) {
    in.w = (at::randn({dim}) * 0.5 + 1).to(opt);
    in.b = (at::randn({dim}) * 0.1).to(opt);
  }
  in.shift = at::randn({batch, dim}).to(opt);
  in.scale = (at::randn({batch, dim}) * 0.3).to(opt);
  in.residual = at::randn({batch, tokens, dim}).to(opt);
  in.gate = at::randn({batch, dim}).to(opt);
  return in;
}

at::Tensor fused_modulate(const Inputs& in) { return adaln_modulate(in.x, in.w, in.b, in.shift, in.scale, kEps); }
at::Tensor reference_modulate(const Inputs& in) {
  return adaln_modulate_reference(in.x, in.w, in.b, in.shift, in.scale, kEps);
}
at::Tensor fused_block(const Inputs& in) { return gated_residual(in.residual, fused_modulate(in), in.gate); }
at::Tensor reference_block(const Inputs& in) {
  return gated_residual_reference(in.residual, reference_modulate(in), in.gate);
}

struct Shape {
  int64_t batch, tokens, dim;
};
const std::vector<Shape> kShapes{{2, 16, 32}, {3, 1, 37}, {1, 7, 8}, {2, 70, 13}, {2, 5, 1280}, {4, 33, 1}};

std::string name(const Shape& s, bool affine) {
  return "B=" + std::to_string(s.batch) + " N=" + std::to_string(s.tokens) + " D=" + std::to_string(s.dim) +
         (affine ? " affine" : " no affine");
}

// Backward of sum(out * upstream) through both paths; every gradient compared.
void compare_backward(const Inputs& base, double tol, const std::string& label) {
  at::manual_seed(7);
  const auto upstream = at::randn(base.x.sizes()).to(base.x.options());
  Inputs f = base.leaves(true), r = base.leaves(true);
  (fused_block(f) * upstream).sum().backward();
  (reference_block(r) * upstream).sum().backward();
  const char* names[] = {"d_x", "d_ln_weight", "d_ln_bias", "d_shift", "d_scale", "d_residual", "d_gate"};
  const auto fa = f.all(), ra = r.all();
  for (size_t i = 0; i < fa.size(); ++i) {
    if (!fa[i]->defined()) continue;
    EXPECT_TRUE(close(fa[i]->grad(), ra[i]->grad(), tol, label + " " + names[i]));
  }
}

}  // namespace

TEST(AdalnKernelCpu, ForwardMatchesLayerNormFp32) {
  at::manual_seed(1);
  for (const auto& s : kShapes) {
    for (bool affine : {false, true}) {
      SCOPED_TRACE(name(s, affine));
      const auto in = random_inputs(s.batch, s.tokens, s.dim, affine);
      const auto fused = fused_modulate(in);
      EXPECT_EQ(fused.scalar_type(), at::kFloat);
      EXPECT_TRUE(close(fused, reference_modulate(in), 1e-5, "modulate"));
      EXPECT_TRUE(close(gated_residual(in.residual, fused, in.gate),
                        gated_residual_reference(in.residual, fused, in.gate), 1e-6, "gated residual"));
    }
  }
}

TEST(AdalnKernelCpu, WeightWithoutBias) {
  at::manual_seed(2);
  auto in = random_inputs(2, 9, 24, true);
  in.b = at::Tensor();
  EXPECT_TRUE(close(fused_modulate(in), reference_modulate(in), 1e-5, "weight only"));
  in = random_inputs(2, 9, 24, true);
  in.w = at::Tensor();
  EXPECT_TRUE(close(fused_modulate(in), reference_modulate(in), 1e-5, "bias only"));
}

// Half-precision inputs: fp32 math, output rounded once to the input dtype.
TEST(AdalnKernelCpu, ForwardHalfInputs) {
  at::manual_seed(3);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    for (bool affine : {false, true}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (affine ? " affine" : ""));
      const auto in = random_inputs(2, 17, 40, affine, dtype);
      Inputs wide = in;
      for (auto* t : wide.all())
        if (t->defined()) *t = t->to(at::kFloat);
      const double tol = dtype == at::kBFloat16 ? 1e-2 : 2e-3;
      const auto y = fused_modulate(in);
      EXPECT_EQ(y.scalar_type(), dtype);
      EXPECT_TRUE(close(y, reference_modulate(wide), tol, "modulate"));
      const auto out = gated_residual(in.residual, y, in.gate);
      EXPECT_EQ(out.scalar_type(), dtype);
      EXPECT_TRUE(close(out, gated_residual_reference(wide.residual, y.to(at::kFloat), wide.gate), tol, "gated"));
      // Against the same composition run in the low precision itself, loosely.
      EXPECT_TRUE(close(y, reference_modulate(in), 5 * tol, "modulate vs low-precision ATen"));
    }
  }
}

// Rows [1, 3] and [-4, 4] both normalise to [-1, 1] (eps = 0).
TEST(AdalnKernelCpu, HandComputedTinyCase) {
  const auto x = at::tensor({1.0f, 3.0f, -4.0f, 4.0f}).view({2, 1, 2});
  const auto w = at::tensor({2.0f, 0.5f}), b = at::tensor({0.1f, -0.2f});
  const auto shift = at::tensor({1.0f, 2.0f, 0.0f, 0.0f}).view({2, 2});
  const auto scale = at::tensor({0.5f, -1.0f, 1.0f, 1.0f}).view({2, 2});
  // LN(x) = [-1.9, 0.3] for both rows; row 0: * [1.5, 0] + [1, 2]; row 1: * 2.
  const auto y = adaln_modulate(x, w, b, shift, scale, 0.0);
  EXPECT_TRUE(close(y, at::tensor({-1.85f, 2.0f, -3.8f, 0.6f}).view({2, 1, 2}), 1e-6, "y"));
  const auto residual = at::ones({2, 1, 2});
  const auto gate = at::tensor({2.0f, -1.0f, 0.5f, 0.0f}).view({2, 2});
  EXPECT_TRUE(close(gated_residual(residual, y, gate), at::tensor({-2.7f, -1.0f, -0.9f, 1.0f}).view({2, 1, 2}), 1e-6,
                    "out"));
}

// With shift = scale = 0 and gate = 1 the block is residual + LayerNorm(x).
TEST(AdalnKernelCpu, ZeroModulationIsLayerNormResidual) {
  at::manual_seed(4);
  for (bool affine : {false, true}) {
    auto in = random_inputs(3, 11, 48, affine);
    in.shift = at::zeros({3, 48});
    in.scale = at::zeros({3, 48});
    in.gate = at::ones({3, 48});
    const auto want = in.residual + at::layer_norm(in.x, {48}, in.w, in.b, kEps);
    EXPECT_TRUE(close(fused_block(in), want, 1e-6, affine ? "affine" : "no affine"));
  }
}

TEST(AdalnKernelCpu, BackwardMatchesAutogradFp32) {
  at::manual_seed(5);
  for (const auto& s : kShapes) {
    if (s.dim == 1) continue;  // see SingleFeatureRows: ATen's d_weight is rounding noise there
    for (bool affine : {false, true}) {
      SCOPED_TRACE(name(s, affine));
      compare_backward(random_inputs(s.batch, s.tokens, s.dim, affine), 1e-4, name(s, affine));
    }
  }
}

// D = 1: xhat is exactly 0, so y = b * (1 + scale) + shift and d_x = d_weight = 0
// exactly (at::layer_norm's backward leaves ~1e-4 of rounding in d_weight here).
TEST(AdalnKernelCpu, SingleFeatureRows) {
  at::manual_seed(13);
  Inputs f = random_inputs(3, 10, 1, true).leaves(true);
  const auto upstream = at::randn({3, 10, 1});
  const auto y = fused_modulate(f);
  EXPECT_TRUE(close(y, (f.b * (1 + f.scale.unsqueeze(1)) + f.shift.unsqueeze(1)).detach().expand_as(y), 1e-6, "y"));
  (y * upstream).sum().backward();
  EXPECT_TRUE(at::equal(f.x.grad(), at::zeros_like(f.x)));
  EXPECT_TRUE(at::equal(f.w.grad(), at::zeros_like(f.w)));
  const auto d_bias = (upstream * (1 + f.scale.detach().unsqueeze(1))).sum(at::IntArrayRef{0, 1});
  EXPECT_TRUE(close(f.b.grad(), d_bias, 1e-5, "d_bias"));
  EXPECT_TRUE(close(f.shift.grad(), upstream.sum(1), 1e-5, "d_shift"));
}

// y as a leaf of its own (not produced by adaln_modulate).
TEST(AdalnKernelCpu, GatedResidualBackwardWithLeafY) {
  at::manual_seed(6);
  const auto r0 = at::randn({3, 40, 24}), y0 = at::randn({3, 40, 24}), g0 = at::randn({3, 24});
  const auto upstream = at::randn({3, 40, 24});
  std::vector<at::Tensor> f, r;
  for (const auto& t : {r0, y0, g0}) {
    f.push_back(t.clone().requires_grad_(true));
    r.push_back(t.clone().requires_grad_(true));
  }
  (gated_residual(f[0], f[1], f[2]) * upstream).sum().backward();
  (gated_residual_reference(r[0], r[1], r[2]) * upstream).sum().backward();
  EXPECT_TRUE(close(f[0].grad(), r[0].grad(), 1e-6, "d_residual"));
  EXPECT_TRUE(close(f[1].grad(), r[1].grad(), 1e-6, "d_y"));
  EXPECT_TRUE(close(f[2].grad(), r[2].grad(), 1e-5, "d_gate"));
}

TEST(AdalnKernelCpu, BackwardHalfInputs) {
  at::manual_seed(8);
  const auto in = random_inputs(2, 20, 24, true, at::kBFloat16);
  Inputs f = in.leaves(true);
  const auto upstream = at::randn({2, 20, 24}).to(at::kBFloat16);
  (fused_block(f) * upstream).sum().backward();
  Inputs wide = in;
  for (auto* t : wide.all()) *t = t->to(at::kFloat).requires_grad_(true);
  (reference_block(wide) * upstream.to(at::kFloat)).sum().backward();
  const auto fa = f.all(), wa = wide.all();
  for (size_t i = 0; i < fa.size(); ++i) {
    EXPECT_EQ(fa[i]->grad().scalar_type(), at::kBFloat16);
    // Relative to the largest gradient: sums over rows magnify bf16 rounding.
    const auto want = wa[i]->grad();
    const double scale = want.abs().max().item<double>() + 1;
    EXPECT_TRUE(close(fa[i]->grad().to(at::kFloat) / scale, want / scale, 3e-2, "bf16 grad " + std::to_string(i)));
  }
}

TEST(AdalnKernelCpu, NoGradAndInferenceModeSkipTheGraph) {
  at::manual_seed(9);
  const auto in = random_inputs(2, 8, 16, true).leaves(true);
  const auto want = reference_block(in.leaves(false));
  {
    at::NoGradGuard no_grad;
    const auto out = fused_block(in);
    EXPECT_FALSE(out.requires_grad());
    EXPECT_TRUE(close(out, want, 1e-5, "no grad"));
  }
  {
    c10::InferenceMode guard;
    const auto out = fused_block(in.leaves(false));
    EXPECT_FALSE(out.requires_grad());
    EXPECT_TRUE(close(out, want, 1e-5, "inference mode"));
  }
  const auto tracked = fused_block(in);
  EXPECT_TRUE(tracked.requires_grad());
}

TEST(AdalnKernelCpu, NonContiguousAndFloat64Inputs) {
  at::manual_seed(10);
  auto in = random_inputs(2, 12, 20, true);
  Inputs strided = in;
  strided.x = in.x.transpose(1, 2).contiguous().transpose(1, 2);          // same values, other strides
  strided.shift = in.shift.t().contiguous().t();
  strided.residual = at::randn({2, 24, 20}).slice(1, 0, 24, 2);             // every other token
  EXPECT_FALSE(strided.x.is_contiguous());
  EXPECT_TRUE(close(fused_block(strided), reference_block(strided), 1e-5, "non-contiguous"));

  Inputs wide = in;
  for (auto* t : wide.all()) *t = t->to(at::kDouble);
  const auto y = fused_block(wide);
  EXPECT_EQ(y.scalar_type(), at::kDouble);
  EXPECT_TRUE(close(y, reference_block(wide), 1e-12, "float64"));
}

TEST(AdalnKernelCpu, EmptyTokens) {
  const auto in = random_inputs(2, 0, 16, true);
  EXPECT_EQ(fused_block(in).sizes(), in.x.sizes());
  Inputs f = in.leaves(true);
  fused_block(f).sum().backward();
  EXPECT_TRUE(at::equal(f.w.grad(), at::zeros({16})));
  EXPECT_TRUE(at::equal(f.gate.grad(), at::zeros({2, 16})));
}

// Chunk partials are summed in a fixed order: identical bits on every run
// and for any thread count.
TEST(AdalnKernelCpu, ParameterGradientsAreDeterministic) {
  at::manual_seed(11);
  const auto in = random_inputs(4, 257, 96, true);
  const auto upstream = at::randn({4, 257, 96});
  auto grads = [&] {
    Inputs f = in.leaves(true);
    (fused_block(f) * upstream).sum().backward();
    return std::vector<at::Tensor>{f.w.grad(), f.b.grad(), f.shift.grad(), f.scale.grad(), f.gate.grad(),
                                   f.x.grad()};
  };
  const auto first = grads(), second = grads();
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto serial = grads();
  at::set_num_threads(threads);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_TRUE(at::equal(first[i], second[i])) << "gradient " << i << " differs between runs";
    EXPECT_TRUE(at::equal(first[i], serial[i])) << "gradient " << i << " depends on the thread count";
  }
}

TEST(AdalnKernelCpu, RejectsBadInputs) {
  const auto in = random_inputs(2, 4, 32, true);
  try {
    adaln_modulate(in.x, in.w, in.b, at::zeros({2, 16}), in.scale, kEps);
    ADD_FAILURE() << "a [2, 16] shift was accepted";
  } catch (const spo::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("adaln_modulate: shift must be [B, D] = [2, 32], got [2, 16]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(adaln_modulate(in.x, in.w, in.b, in.shift, at::zeros({3, 32}), kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x, at::ones({31}), in.b, in.shift, in.scale, kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x, in.w, at::zeros({2, 32}), in.shift, in.scale, kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x[0], in.w, in.b, in.shift, in.scale, kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x.to(at::kInt), in.w, in.b, in.shift, in.scale, kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x, in.w, in.b, in.shift.to(at::kLong), in.scale, kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x, in.w, in.b, in.shift, in.scale, -1.0), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(in.x, in.w, in.b, at::Tensor(), in.scale, kEps), spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate(at::zeros({2, 4, 0}), at::Tensor(), at::Tensor(), at::zeros({2, 0}),
                              at::zeros({2, 0}), kEps),
               spo::InvalidArgument);
  EXPECT_THROW(adaln_modulate_reference(in.x, in.w, in.b, in.shift, at::zeros({3, 32}), kEps), spo::InvalidArgument);

  EXPECT_THROW(gated_residual(in.residual, in.x.slice(1, 0, 3), in.gate), spo::InvalidArgument);
  EXPECT_THROW(gated_residual(in.residual, in.x, at::ones({3, 32})), spo::InvalidArgument);
  EXPECT_THROW(gated_residual(in.residual, in.x, at::ones({2, 4, 32})), spo::InvalidArgument);
  EXPECT_THROW(gated_residual(in.residual.to(at::kInt), in.x, in.gate), spo::InvalidArgument);
}

TEST(AdalnKernelCuda, MatchesCpu) {
  if (!cuda_kernels_compiled()) GTEST_SKIP() << "this build has no CUDA kernels";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const at::Device gpu(at::kCUDA, 0);
  at::manual_seed(12);
  for (const auto& s : kShapes) {
    for (bool affine : {false, true}) {
      SCOPED_TRACE(name(s, affine));
      const auto cpu = random_inputs(s.batch, s.tokens, s.dim, affine);
      Inputs dev = cpu;
      for (auto* t : dev.all())
        if (t->defined()) *t = t->to(gpu);
      EXPECT_TRUE(close(fused_block(dev), fused_block(cpu), 1e-5, "forward"));
      compare_backward(dev, 1e-4, "cuda " + name(s, affine));

      // Every gradient of the CUDA path against the CPU path's.
      const auto upstream = at::randn({s.batch, s.tokens, s.dim});
      Inputs fc = cpu.leaves(true), fd = dev.leaves(true);
      (fused_block(fc) * upstream).sum().backward();
      (fused_block(fd) * upstream.to(gpu)).sum().backward();
      const auto ca = fc.all(), da = fd.all();
      for (size_t i = 0; i < ca.size(); ++i)
        if (ca[i]->defined()) EXPECT_TRUE(close(da[i]->grad(), ca[i]->grad(), 1e-4, "grad " + std::to_string(i)));
    }
  }
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    const auto in = random_inputs(2, 17, 40, true, dtype, gpu);
    EXPECT_EQ(fused_block(in).scalar_type(), dtype);
    EXPECT_TRUE(close(fused_block(in), reference_block(in), 5e-2, "half precision on CUDA"));
  }
}

// bf16 and fp16 on the GPU, forward and backward: against the fp32 ATen
// composition of the same (upcast) values, and against the CPU kernels run on
// the same low-precision inputs. Tolerances as the CPU half-precision tests:
// one rounding of the output (bf16 1e-2, fp16 2e-3, scaled by 1 + |value|);
// gradients relative to the largest gradient (bf16 3e-2, fp16 1e-2), since
// d_y is rounded to the input dtype before LayerNorm's backward.
TEST(AdalnKernelCuda, HalfPrecisionForwardBackward) {
  if (!cuda_kernels_compiled()) GTEST_SKIP() << "this build has no CUDA kernels";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const at::Device gpu(at::kCUDA, 0);
  at::manual_seed(21);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    for (bool affine : {false, true}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (affine ? " affine" : " no affine"));
      const double tol = dtype == at::kBFloat16 ? 1e-2 : 2e-3;
      const double grad_tol = dtype == at::kBFloat16 ? 3e-2 : 1e-2;
      const auto cpu = random_inputs(3, 65, 320, affine, dtype);
      Inputs dev = cpu, wide = cpu;
      for (auto* t : dev.all())
        if (t->defined()) *t = t->to(gpu);
      for (auto* t : wide.all())
        if (t->defined()) *t = t->to(gpu, at::kFloat);

      const auto y = fused_modulate(dev);
      EXPECT_TRUE(y.is_cuda());
      EXPECT_EQ(y.scalar_type(), dtype);
      EXPECT_TRUE(close(y, reference_modulate(wide), tol, "modulate vs fp32 ATen"));
      EXPECT_TRUE(close(y, fused_modulate(cpu), tol, "modulate vs CPU kernel"));
      const auto out = fused_block(dev);
      EXPECT_EQ(out.scalar_type(), dtype);
      EXPECT_TRUE(close(out, gated_residual_reference(wide.residual, y.to(at::kFloat), wide.gate), tol,
                        "gated vs fp32 ATen"));
      EXPECT_TRUE(close(out, fused_block(cpu), tol, "block vs CPU kernel"));

      const auto upstream = at::randn(cpu.x.sizes()).to(dtype);
      Inputs fd = dev.leaves(true), fc = cpu.leaves(true), fw = wide.leaves(true);
      (fused_block(fd) * upstream.to(gpu)).sum().backward();
      (fused_block(fc) * upstream).sum().backward();
      (reference_block(fw) * upstream.to(gpu, at::kFloat)).sum().backward();
      const char* names[] = {"d_x", "d_ln_weight", "d_ln_bias", "d_shift", "d_scale", "d_residual", "d_gate"};
      const auto da = fd.all(), ca = fc.all(), wa = fw.all();
      for (size_t i = 0; i < da.size(); ++i) {
        if (!da[i]->defined()) continue;
        ASSERT_TRUE(da[i]->grad().defined()) << names[i];
        EXPECT_EQ(da[i]->grad().scalar_type(), dtype) << names[i];
        const auto want = wa[i]->grad();
        const double scale = want.abs().max().item<double>() + 1;
        EXPECT_TRUE(close(da[i]->grad().to(at::kFloat) / scale, want / scale, grad_tol,
                          std::string("grad vs fp32 autograd ") + names[i]));
        const double cscale = ca[i]->grad().to(at::kFloat).abs().max().item<double>() + 1;
        EXPECT_TRUE(close(da[i]->grad().to(at::kFloat).cpu() / cscale, ca[i]->grad().to(at::kFloat) / cscale, grad_tol,
                          std::string("grad vs CPU kernel ") + names[i]));
      }
    }
  }
}

// The fused DDIM step (CPU loop and, where a GPU exists, the CUDA grid)
// against the plain-ATen composition of the same formulas.
#include <gtest/gtest.h>

#include <ATen/Context.h>

#include "kernels/ddim_step/ddim_step.h"
#include "runtime/errors.h"

using namespace spo::kernels;

namespace {

// |a - b| <= tol * (1 + |b|): 1e-6 relative to the magnitude of the value.
::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& want, double tol, const char* what) {
  const auto g = got.to(at::kDouble).cpu(), w = want.to(at::kDouble).cpu();
  if (g.sizes() != w.sizes()) return ::testing::AssertionFailure() << what << ": shapes differ";
  const auto err = ((g - w).abs() / (1 + w.abs())).nan_to_num(0.0);
  const double worst = err.max().item<double>();
  if (worst > tol) return ::testing::AssertionFailure() << what << ": worst scaled error " << worst << " > " << tol;
  if (!at::equal(g.isnan(), w.isnan())) return ::testing::AssertionFailure() << what << ": NaN positions differ";
  return ::testing::AssertionSuccess();
}

DdimStepInputs random_inputs(at::Device device, double eta, PredictionType pred, at::ScalarType dtype) {
  at::manual_seed(1234);
  DdimStepInputs in;
  const int64_t batch = 6;
  in.sample = at::randn({batch, 4, 24, 24}).to(device, dtype);
  in.model_output = at::randn({batch, 4, 24, 24}).to(device, dtype);
  // Mixed timesteps in one batch: alpha_bar at t = 951, 751, 501, 251, 51, 1 and their prev.
  in.alpha_t = at::tensor({0.00628, 0.0654, 0.276, 0.639, 0.949, 0.998}, at::kDouble);
  in.alpha_prev = at::tensor({0.0108, 0.0943, 0.340, 0.702, 0.977, 0.99915}, at::kDouble);
  in.eta = eta;
  in.prediction = pred;
  in.noise = at::randn({batch, 4, 24, 24}).to(device, dtype);
  return in;
}

void compare_paths(at::Device device, at::ScalarType dtype, double tol) {
  for (double eta : {0.0, 0.5, 1.0}) {
    for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample}) {
      SCOPED_TRACE("eta " + std::to_string(eta) + " prediction " + std::to_string(static_cast<int>(pred)));
      auto in = random_inputs(device, eta, pred, dtype);
      const auto fused = ddim_step_fused(in), ref = ddim_step_reference(in);
      EXPECT_TRUE(close(fused.prev_sample, ref.prev_sample, tol, "prev sample"));
      EXPECT_TRUE(close(fused.pred_original, ref.pred_original, tol, "x0"));
      EXPECT_TRUE(close(fused.mean, ref.mean, tol, "mean"));
      EXPECT_TRUE(close(fused.log_prob, ref.log_prob, tol, "log prob"));

      // Scoring a given x_prev (the update's path) equals drawing it.
      auto given = in;
      given.noise.reset();
      given.prev_sample = fused.prev_sample;
      if (eta > 0) {
        const auto rescored = ddim_step_fused(given);
        EXPECT_TRUE(close(rescored.log_prob, fused.log_prob, tol, "rescored log prob"));
      }
      // Clipping x0 to [-1, 1], with and without re-deriving eps.
      for (bool reuse : {false, true}) {
        auto clipped = in;
        clipped.clip_range = 1.0f;
        clipped.use_clipped_model_output = reuse;
        EXPECT_TRUE(close(ddim_step_fused(clipped).prev_sample, ddim_step_reference(clipped).prev_sample, tol,
                          "clipped prev sample"));
      }
    }
  }
}

}  // namespace

TEST(DdimKernelCpu, MatchesAtenFp32) { compare_paths(at::kCPU, at::kFloat, 1e-6); }

// Half-precision inputs are widened to fp32 before the step math in both paths.
TEST(DdimKernelCpu, MatchesAtenHalfInputs) {
  compare_paths(at::kCPU, at::kHalf, 1e-6);
  compare_paths(at::kCPU, at::kBFloat16, 1e-6);
}

TEST(DdimKernelCpu, LargeSampleUsesManyChunks) {
  auto in = random_inputs(at::kCPU, 1.0, PredictionType::Epsilon, at::kFloat);
  in.sample = at::randn({2, 4, 128, 128});
  in.model_output = at::randn({2, 4, 128, 128});
  in.noise = at::randn({2, 4, 128, 128});
  in.alpha_t = in.alpha_t.slice(0, 0, 2);
  in.alpha_prev = in.alpha_prev.slice(0, 0, 2);
  const auto fused = ddim_step_fused(in), ref = ddim_step_reference(in);
  EXPECT_TRUE(close(fused.log_prob, ref.log_prob, 1e-6, "log prob"));
  EXPECT_TRUE(close(fused.prev_sample, ref.prev_sample, 1e-6, "prev sample"));
}

TEST(DdimKernelCpu, RejectsBadInputs) {
  auto in = random_inputs(at::kCPU, 1.0, PredictionType::Epsilon, at::kFloat);
  auto bad = in;
  bad.model_output = at::randn({6, 4, 24, 23});
  EXPECT_THROW(ddim_step_fused(bad), spo::InvalidArgument);
  bad = in;
  bad.noise.reset();
  EXPECT_THROW(ddim_step_fused(bad), spo::InvalidArgument);  // stochastic step without noise
  bad = in;
  bad.alpha_t = at::tensor({0.5}, at::kDouble);
  EXPECT_THROW(ddim_step_fused(bad), spo::InvalidArgument);
  bad = in;
  bad.eta = std::nan("");
  EXPECT_THROW(ddim_step_fused(bad), spo::InvalidArgument);
  bad = in;
  bad.alpha_t = at::full({6}, 1.5, at::kDouble);
  EXPECT_THROW(ddim_step_fused(bad), spo::InvalidArgument);
}

TEST(DdimKernelCuda, MatchesAten) {
  if (!cuda_kernels_compiled()) GTEST_SKIP() << "this build has no CUDA kernels";
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device on this machine";
  compare_paths(at::Device(at::kCUDA, 0), at::kFloat, 1e-6);
  compare_paths(at::Device(at::kCUDA, 0), at::kHalf, 1e-6);
  compare_paths(at::Device(at::kCUDA, 0), at::kBFloat16, 1e-6);
}

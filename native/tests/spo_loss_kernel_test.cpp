// The fused SPO loss (CPU loops and, where a GPU exists, the CUDA kernels)
// against its plain-ATen composition: forward values, the gradient w.r.t. the
// policy output through autograd, the clamp's zero-gradient regions, a
// hand-computed case, and the input checks.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/ddim_step/ddim_step.h"  // cuda_kernels_compiled(), ddim_step_reference
#include "kernels/spo_loss/spo_loss.h"
#include "runtime/errors.h"

using namespace spo::kernels;

namespace {

// max |got - want| <= tol * max |want|: relative to the tensor's scale, so
// that elements near zero do not dominate.
::testing::AssertionResult near(const at::Tensor& got, const at::Tensor& want, double tol, const std::string& what) {
  if (!got.defined() || !want.defined()) return ::testing::AssertionFailure() << what << ": missing tensor";
  const auto g = got.detach().to(at::kDouble).cpu(), w = want.detach().to(at::kDouble).cpu();
  if (g.sizes() != w.sizes()) return ::testing::AssertionFailure() << what << ": shapes differ";
  const double scale = std::max(w.abs().max().item<double>(), 1e-30);
  const double worst = (g - w).abs().max().item<double>() / scale;
  if (!(worst <= tol)) return ::testing::AssertionFailure() << what << ": relative error " << worst << " > " << tol;
  return ::testing::AssertionSuccess();
}

// The fused path keeps logp - ref in double (the log_norm constants cancel);
// an fp32 ATen composition loses a few more digits there, which its gradient
// shows at the few-1e-6 level. Against float64 the fused path is within ~1e-6.
constexpr double kTol = 1e-5;
constexpr double kFp32AutogradTol = 2e-5;

// alpha_bar of SD's schedule at t = 951, 751, 501, 251, 51, 1 and at t - 50
// (alpha_bar[0] for t = 1): the pairs cycle through them.
const double kAlphaT[] = {0.00628, 0.0654, 0.276, 0.639, 0.949, 0.998};
const double kAlphaPrev[] = {0.0108, 0.0943, 0.340, 0.702, 0.977, 0.99915};

// How one pair is built: the policy's mean sits k std from the reference's
// along a unit-RMS direction u, and x_prev = lerp(mean_ref, mean_pol, s) +
// std * noise with the noise orthogonal to u. Then, exactly,
//   logp_pol - logp_ref = k^2 (2 s - 1) / 2,
// so s = 0.5 gives ratio 1, and k = 1 with s = 1 (or 0) gives exp(+-0.5): clamped.
struct PairPlan {
  double k, s_w, s_l;
};

const PairPlan kBothInside{0.6, 0.6, 0.45};   // ratios exp(0.036), exp(-0.018)
const PairPlan kWinnerClamped{1.0, 1.0, 0.55};  // exp(0.5) clamped, exp(0.05) inside
const PairPlan kLoserClamped{1.0, 0.45, 0.0};   // exp(-0.05) inside, exp(-0.5) clamped
const PairPlan kBothClamped{1.0, 1.0, 0.0};

at::Tensor unit_rms(const at::Tensor& v) { return v / v.pow(2).mean().sqrt(); }

// n with its component along u removed.
at::Tensor orthogonal_to(const at::Tensor& n, const at::Tensor& u) {
  return n - (n * u).sum() / (u * u).sum() * u;
}

SpoLossInputs make_pairs(int64_t pairs, const std::vector<int64_t>& element_shape, PredictionType pred,
                         const std::vector<PairPlan>& plans, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<int64_t> shape{pairs};
  shape.insert(shape.end(), element_shape.begin(), element_shape.end());
  SpoLossInputs in;
  in.prediction = pred;
  in.sample = at::randn(shape);
  in.reference_output = at::randn(shape);
  in.policy_output = at::empty(shape);
  in.winner = at::empty(shape);
  in.loser = at::empty(shape);
  in.alpha_t = at::empty({pairs}, at::kDouble);
  in.alpha_prev = at::empty({pairs}, at::kDouble);
  for (int64_t i = 0; i < pairs; ++i) {
    const double a_t = kAlphaT[i % 6], a_prev = kAlphaPrev[i % 6];
    in.alpha_t[i].fill_(a_t);
    in.alpha_prev[i].fill_(a_prev);
    const PairPlan plan = plans[static_cast<size_t>(i) % plans.size()];
    const auto c = spo_pair_coefficients(a_t, a_prev, in.eta, pred);
    const double std_dev = ddim_coefficients(a_t, a_prev, in.eta).std;
    const auto x = in.sample[i], ref = in.reference_output[i];
    const auto u = unit_rms(at::randn(element_shape));
    // mean_pol - mean_ref = b * (pol - ref) = k * std * u
    in.policy_output[i].copy_(ref + plan.k * std_dev / c.b * u);
    const auto mean_ref = c.a * x + c.b * ref;
    const auto shift = plan.k * std_dev * u;
    in.winner[i].copy_(mean_ref + plan.s_w * shift + std_dev * orthogonal_to(at::randn(element_shape), u));
    in.loser[i].copy_(mean_ref + plan.s_l * shift + std_dev * orthogonal_to(at::randn(element_shape), u));
  }
  return in;
}

// The same inputs, tensors converted (alphas stay float64).
SpoLossInputs converted(const SpoLossInputs& in, at::ScalarType dtype, at::Device device = at::kCPU) {
  SpoLossInputs c = in;
  for (auto* t : {&c.policy_output, &c.reference_output, &c.sample, &c.winner, &c.loser})
    *t = t->detach().to(device, dtype);
  return c;
}

void compare_forward(const SpoLossOutputs& got, const SpoLossOutputs& want, double tol, const std::string& label) {
  EXPECT_TRUE(near(got.loss, want.loss, tol, label + " loss"));
  EXPECT_TRUE(near(got.policy_logp_w, want.policy_logp_w, tol, label + " policy_logp_w"));
  EXPECT_TRUE(near(got.policy_logp_l, want.policy_logp_l, tol, label + " policy_logp_l"));
  EXPECT_TRUE(near(got.ref_logp_w, want.ref_logp_w, tol, label + " ref_logp_w"));
  EXPECT_TRUE(near(got.ref_logp_l, want.ref_logp_l, tol, label + " ref_logp_l"));
  EXPECT_TRUE(near(got.ratio_w, want.ratio_w, tol, label + " ratio_w"));
  EXPECT_TRUE(near(got.ratio_l, want.ratio_l, tol, label + " ratio_l"));
  EXPECT_TRUE(at::equal(got.inside_w.cpu(), want.inside_w.cpu())) << label << " inside_w";
  EXPECT_TRUE(at::equal(got.inside_l.cpu(), want.inside_l.cpu())) << label << " inside_l";
}

// d (upstream * loss) / d policy_output through `fn`.
template <typename Fn>
at::Tensor policy_grad(const SpoLossInputs& in, Fn fn, double upstream = 1.0) {
  SpoLossInputs leaf = in;
  leaf.policy_output = in.policy_output.detach().clone().requires_grad_(true);
  (fn(leaf).loss * upstream).backward();
  return leaf.policy_output.grad();
}

at::Tensor fused_grad(const SpoLossInputs& in, double upstream = 1.0) { return policy_grad(in, spo_loss, upstream); }
at::Tensor reference_grad(const SpoLossInputs& in, double upstream = 1.0) {
  return policy_grad(in, spo_loss_reference, upstream);
}

const char* pred_name(PredictionType p) {
  return p == PredictionType::Epsilon ? "epsilon" : (p == PredictionType::VPrediction ? "v" : "sample");
}

struct Case {
  int64_t pairs;
  std::vector<int64_t> element_shape;  // M = product; none a multiple of 8
};
const std::vector<Case> kCases{{1, {3, 5, 7}}, {3, {4, 9, 11}}, {10, {2, 13}}, {3, {1}}, {2, {3, 2737}}};

std::string name(const Case& c, PredictionType p) {
  int64_t m = 1;
  for (auto d : c.element_shape) m *= d;
  return std::string(pred_name(p)) + " N=" + std::to_string(c.pairs) + " M=" + std::to_string(m);
}

const std::vector<PairPlan> kMixed{kBothInside, kWinnerClamped, kLoserClamped, kBothClamped,
                                   PairPlan{0.3, 0.8, 0.3}};

}  // namespace

TEST(SpoLossKernelCpu, ForwardMatchesReference) {
  for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample}) {
    for (const auto& c : kCases) {
      SCOPED_TRACE(name(c, pred));
      const auto in = make_pairs(c.pairs, c.element_shape, pred, kMixed, 1);
      const auto fused = spo_loss(in);
      EXPECT_EQ(fused.loss.dim(), 0);
      EXPECT_EQ(fused.loss.scalar_type(), at::kFloat);
      EXPECT_EQ(fused.policy_logp_w.sizes(), at::IntArrayRef({c.pairs}));
      EXPECT_EQ(fused.ratio_l.scalar_type(), at::kFloat);
      EXPECT_EQ(fused.inside_w.scalar_type(), at::kBool);
      compare_forward(fused, spo_loss_reference(in), kTol, "fp32 reference");
      compare_forward(fused, spo_loss_reference(converted(in, at::kDouble)), kTol, "fp64 reference");
    }
  }
}

// The plans land where they were built to: ratios inside or clamped as intended.
TEST(SpoLossKernelCpu, ConstructedRatios) {
  const auto in = make_pairs(4, {4, 9, 11}, PredictionType::Epsilon,
                             {kBothInside, kWinnerClamped, kLoserClamped, kBothClamped}, 2);
  const auto out = spo_loss(in);
  EXPECT_TRUE(at::equal(out.inside_w, at::tensor({1, 0, 1, 0}).to(at::kBool)));
  EXPECT_TRUE(at::equal(out.inside_l, at::tensor({1, 1, 0, 0}).to(at::kBool)));
  const auto want_w = at::tensor({std::exp(0.036), 1.1, std::exp(-0.05), 1.1}, at::kDouble);
  const auto want_l = at::tensor({std::exp(-0.018), std::exp(0.05), 0.9, 0.9}, at::kDouble);
  EXPECT_TRUE(near(out.ratio_w, want_w, 1e-4, "ratio_w"));
  EXPECT_TRUE(near(out.ratio_l, want_l, 1e-4, "ratio_l"));
}

TEST(SpoLossKernelCpu, GradientMatchesAutograd) {
  for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample}) {
    for (const auto& c : kCases) {
      SCOPED_TRACE(name(c, pred));
      const auto in = make_pairs(c.pairs, c.element_shape, pred, kMixed, 3);
      const auto got = fused_grad(in, 2.5);
      EXPECT_EQ(got.scalar_type(), at::kFloat);
      EXPECT_TRUE(near(got, reference_grad(in, 2.5), kFp32AutogradTol, "vs fp32 autograd"));
      EXPECT_TRUE(near(got, reference_grad(converted(in, at::kDouble), 2.5), kTol, "vs fp64 autograd"));
    }
  }
}

// A clamped side contributes exactly nothing: with both sides clamped the
// pair's gradient is 0; with one side clamped, moving that side's x_prev
// (keeping it clamped) leaves the gradient bit-identical.
TEST(SpoLossKernelCpu, ClampedSideHasExactlyZeroGradient) {
  for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction}) {
    SCOPED_TRACE(pred_name(pred));
    const auto in = make_pairs(4, {4, 9, 11}, pred, {kBothInside, kWinnerClamped, kLoserClamped, kBothClamped}, 4);
    const auto got = fused_grad(in), want = reference_grad(in);
    EXPECT_TRUE(near(got, want, kFp32AutogradTol, "vs autograd"));
    EXPECT_TRUE(at::equal(got[3], at::zeros_like(got[3]))) << "both clamped: fused gradient not 0";
    EXPECT_TRUE(at::equal(want[3], at::zeros_like(want[3]))) << "both clamped: reference gradient not 0";
    for (int64_t i = 0; i < 3; ++i) EXPECT_GT(got[i].abs().max().item<float>(), 0.0f) << "pair " << i;

    SpoLossInputs moved = in;
    moved.winner = in.winner.clone();
    moved.loser = in.loser.clone();
    moved.winner[1] += 0.01 * at::randn(in.winner[1].sizes());  // pair 1: winner clamped
    moved.loser[2] += 0.01 * at::randn(in.loser[2].sizes());    // pair 2: loser clamped
    const auto out = spo_loss(moved);
    ASSERT_FALSE(out.inside_w[1].item<bool>());
    ASSERT_FALSE(out.inside_l[2].item<bool>());
    EXPECT_NE(out.policy_logp_w[1].item<float>(), spo_loss(in).policy_logp_w[1].item<float>());
    const auto moved_grad = fused_grad(moved);
    EXPECT_TRUE(at::equal(moved_grad, got)) << "a clamped side changed the gradient";
    EXPECT_TRUE(near(moved_grad, reference_grad(moved), kFp32AutogradTol, "moved vs autograd"));
  }
}

// N = 1, M = 2, epsilon prediction, a_t = 0.5, a_prev = 0.8, eta = 1, beta = 10, eps = 0.1.
// The expected values are derived here, in double arithmetic, from the DDIM step
// as Song et al. write it (eq. 12 and 16), not from the kernel's (a, b) form:
//   x0 = (x - sqrt(1 - a_t) out) / sqrt(a_t),  var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
//   mean = sqrt(a_prev) x0 + sqrt(1 - a_prev - var) out
//   logp(y) = MEAN over the M elements of -(y - mean)^2 / (2 var) - log(sqrt(var)) - log(sqrt(2 pi))
//   r = clamp(exp(logp_policy - logp_ref), 1 - eps, 1 + eps),  loss = -log sigmoid(beta log(r_w / r_l))
// and the gradient by central differences of that same double-precision loss.
// (About: lp_w 0.026048, lp_l -0.063703, ref_w 0.029606, ref_l -0.104866,
// r_w 0.99645, r_l 1.04202, both inside; loss 0.94155; gradient -2.7279 per element.)
struct HandTinyCase {
  std::vector<double> x{1.0, -0.5}, policy{0.2, -0.1}, reference{0.25, -0.05}, winner{1.1, -0.6}, loser{1.3, -0.4};
  double a_t = 0.5, a_prev = 0.8, beta = 10.0, eps = 0.1;

  double log_prob(const std::vector<double>& out, const std::vector<double>& y) const {
    const double var = (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev);
    double sum = 0.0;
    for (size_t i = 0; i < y.size(); ++i) {
      const double x0 = (x[i] - std::sqrt(1 - a_t) * out[i]) / std::sqrt(a_t);
      const double mean = std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev - var) * out[i];
      sum += -(y[i] - mean) * (y[i] - mean) / (2 * var) - std::log(std::sqrt(var)) - std::log(std::sqrt(2 * M_PI));
    }
    return sum / static_cast<double>(y.size());
  }
  double ratio(const std::vector<double>& out, const std::vector<double>& y) const {
    return std::clamp(std::exp(log_prob(out, y) - log_prob(reference, y)), 1 - eps, 1 + eps);
  }
  double loss(const std::vector<double>& out) const {
    const double z = beta * (std::log(ratio(out, winner)) - std::log(ratio(out, loser)));
    return std::log1p(std::exp(-z));
  }
  double loss_gradient(size_t i) const {
    const double h = 1e-6;
    auto up = policy, down = policy;
    up[i] += h;
    down[i] -= h;
    return (loss(up) - loss(down)) / (2 * h);
  }
  static at::Tensor row(const std::vector<double>& v) { return at::tensor(v, at::kDouble).to(at::kFloat).view({1, -1}); }
};

TEST(SpoLossKernelCpu, HandComputedTinyCase) {
  HandTinyCase hand;
  // The fp32 inputs the kernel sees, and the same values (rounded to fp32) in the double derivation.
  auto to_fp32 = [](std::vector<double>& v) {
    for (auto& e : v) e = static_cast<double>(static_cast<float>(e));
  };
  for (auto* v : {&hand.x, &hand.policy, &hand.reference, &hand.winner, &hand.loser}) to_fp32(*v);
  SpoLossInputs in;
  in.sample = HandTinyCase::row(hand.x);
  in.policy_output = HandTinyCase::row(hand.policy);
  in.reference_output = HandTinyCase::row(hand.reference);
  in.winner = HandTinyCase::row(hand.winner);
  in.loser = HandTinyCase::row(hand.loser);
  in.alpha_t = at::tensor({hand.a_t}, at::kDouble);
  in.alpha_prev = at::tensor({hand.a_prev}, at::kDouble);
  in.beta = hand.beta;
  in.clip_eps = hand.eps;
  const auto out = spo_loss(in);
  EXPECT_NEAR(out.loss.item<double>(), hand.loss(hand.policy), 2e-6);
  EXPECT_NEAR(out.policy_logp_w.item<double>(), hand.log_prob(hand.policy, hand.winner), 1e-6);
  EXPECT_NEAR(out.policy_logp_l.item<double>(), hand.log_prob(hand.policy, hand.loser), 1e-6);
  EXPECT_NEAR(out.ref_logp_w.item<double>(), hand.log_prob(hand.reference, hand.winner), 1e-6);
  EXPECT_NEAR(out.ref_logp_l.item<double>(), hand.log_prob(hand.reference, hand.loser), 1e-6);
  EXPECT_NEAR(out.ratio_w.item<double>(), hand.ratio(hand.policy, hand.winner), 1e-6);
  EXPECT_NEAR(out.ratio_l.item<double>(), hand.ratio(hand.policy, hand.loser), 1e-6);
  EXPECT_TRUE(out.inside_w.item<bool>() && out.inside_l.item<bool>());
  const auto want_grad = at::tensor({hand.loss_gradient(0), hand.loss_gradient(1)}, at::kDouble).view({1, 2});
  EXPECT_TRUE(near(fused_grad(in), want_grad, 2e-6, "hand gradient"));
}

// Policy == reference: ratios exactly 1, z = 0, loss = log 2, and the gradient
// is -beta/2 * (1/N) * (1/(2 var)) * 2 b / M * (x_w - x_l).
TEST(SpoLossKernelCpu, PolicyEqualsReference) {
  auto in = make_pairs(3, {4, 7, 5}, PredictionType::VPrediction, {kBothInside}, 5);
  in.policy_output = in.reference_output.clone();
  const auto out = spo_loss(in);
  EXPECT_NEAR(out.loss.item<double>(), std::log(2.0), 1e-7);
  EXPECT_TRUE(at::equal(out.ratio_w, at::ones({3})));
  EXPECT_TRUE(at::equal(out.ratio_l, at::ones({3})));
  EXPECT_TRUE(at::equal(out.policy_logp_w, out.ref_logp_w));
  EXPECT_TRUE(at::equal(out.policy_logp_l, out.ref_logp_l));
  EXPECT_TRUE(out.inside_w.all().item<bool>() && out.inside_l.all().item<bool>());

  const auto table = spo_pair_coefficient_table(in.alpha_t, in.alpha_prev, in.eta, in.prediction, at::kCPU);
  const double m = 4 * 7 * 5, beta = in.beta;
  const auto per_pair = (-beta / 2 / 3 * table.select(1, 2) * 2 * table.select(1, 1) / m).view({3, 1, 1, 1});
  EXPECT_TRUE(near(fused_grad(in), per_pair * (in.winner - in.loser), kTol, "closed form"));
  EXPECT_TRUE(near(fused_grad(in), reference_grad(in), kFp32AutogradTol, "vs autograd"));
}

// logp is a MEAN over elements: repeating identical per-element values M
// times changes neither the log-probs nor the loss; the gradient per element
// shrinks as 1/M so that its sum stays put.
TEST(SpoLossKernelCpu, LogProbIsAMeanOverElements) {
  const auto make = [](int64_t m) {
    SpoLossInputs in;
    in.sample = at::full({1, m}, 0.3f);
    in.policy_output = at::full({1, m}, 0.1f);
    in.reference_output = at::full({1, m}, 0.11f);
    in.winner = at::full({1, m}, 0.35f);
    in.loser = at::full({1, m}, 0.2f);
    in.alpha_t = at::tensor({0.276}, at::kDouble);
    in.alpha_prev = at::tensor({0.340}, at::kDouble);
    return in;
  };
  const auto one = spo_loss(make(1));
  const auto c = spo_pair_coefficients(0.276, 0.340, 1.0, PredictionType::Epsilon);
  const double mean = c.a * 0.3f + c.b * 0.1f, d = 0.35f - mean;
  EXPECT_NEAR(one.policy_logp_w.item<double>(), -d * d * c.inv_two_var + c.log_norm, 1e-5);
  const auto grad_one = fused_grad(make(1));
  for (int64_t m : {7, 300, 20001}) {
    SCOPED_TRACE("M=" + std::to_string(m));
    const auto out = spo_loss(make(m));
    EXPECT_NEAR(out.loss.item<double>(), one.loss.item<double>(), 1e-6);
    EXPECT_NEAR(out.policy_logp_w.item<double>(), one.policy_logp_w.item<double>(), 1e-5);
    EXPECT_NEAR(out.ref_logp_l.item<double>(), one.ref_logp_l.item<double>(), 1e-5);
    EXPECT_TRUE(near(fused_grad(make(m)) * static_cast<double>(m), grad_one.expand({1, m}), kTol, "grad * M"));
  }
}

// The linear form a * x + b * out is the DDIM mean of docs/method.md §1.
TEST(SpoLossKernelCpu, LinearMeanIsTheDdimMean) {
  at::manual_seed(6);
  for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction, PredictionType::Sample}) {
    DdimStepInputs d;
    d.sample = at::randn({6, 3, 11});
    d.model_output = at::randn({6, 3, 11});
    d.alpha_t = at::tensor(std::vector<double>(std::begin(kAlphaT), std::end(kAlphaT)), at::kDouble);
    d.alpha_prev = at::tensor(std::vector<double>(std::begin(kAlphaPrev), std::end(kAlphaPrev)), at::kDouble);
    d.eta = 1.0;
    d.prediction = pred;
    d.prev_sample = at::randn({6, 3, 11});
    const auto table = spo_pair_coefficient_table(d.alpha_t, d.alpha_prev, 1.0, pred, at::kCPU);
    const auto mean = table.select(1, 0).view({6, 1, 1}) * d.sample + table.select(1, 1).view({6, 1, 1}) * d.model_output;
    EXPECT_TRUE(near(mean, ddim_step_reference(d).mean, kTol, pred_name(pred)));
  }
}

TEST(SpoLossKernelCpu, DpoLossFromLogps) {
  at::manual_seed(7);
  const int64_t n = 9;
  const auto ref_w = at::randn({n}), ref_l = at::randn({n});
  // Offsets inside and outside +-log(1.1) for both sides.
  const auto lp_w = (ref_w + at::linspace(-0.3, 0.3, n)).requires_grad_(true);
  const auto lp_l = (ref_l + at::linspace(0.25, -0.2, n)).requires_grad_(true);
  const auto ref_w_leaf = ref_w.clone().requires_grad_(true);
  const double beta = 7.0, eps = 0.1;
  const auto loss = dpo_loss_from_logps(lp_w, lp_l, ref_w_leaf, ref_l, beta, eps);
  loss.backward();

  double want = 0.0;
  std::vector<double> d_w(n), d_l(n);
  for (int64_t i = 0; i < n; ++i) {
    const double raw_w = std::exp(lp_w[i].item<double>() - ref_w[i].item<double>());
    const double raw_l = std::exp(lp_l[i].item<double>() - ref_l[i].item<double>());
    const bool in_w = raw_w >= 0.9 && raw_w <= 1.1, in_l = raw_l >= 0.9 && raw_l <= 1.1;
    const double z = beta * (std::log(std::clamp(raw_w, 0.9, 1.1)) - std::log(std::clamp(raw_l, 0.9, 1.1)));
    want += std::log1p(std::exp(-z)) / n;
    const double g = -beta / (1.0 + std::exp(z)) / n;
    d_w[i] = in_w ? g : 0.0;
    d_l[i] = in_l ? -g : 0.0;
  }
  EXPECT_NEAR(loss.item<double>(), want, 1e-6);
  EXPECT_TRUE(near(lp_w.grad(), at::tensor(d_w, at::kDouble), kTol, "d lp_w"));
  EXPECT_TRUE(near(lp_l.grad(), at::tensor(d_l, at::kDouble), kTol, "d lp_l"));
  EXPECT_FALSE(ref_w_leaf.grad().defined()) << "the reference log-prob must not get a gradient";
  EXPECT_GT((lp_w.grad() == 0).sum().item<int64_t>(), 0) << "no clamped winner in the sweep";

  // Fed the fused path's own log-probs it gives the fused loss.
  const auto in = make_pairs(5, {3, 17}, PredictionType::Epsilon, kMixed, 8);
  const auto out = spo_loss(in);
  EXPECT_TRUE(near(dpo_loss_from_logps(out.policy_logp_w, out.policy_logp_l, out.ref_logp_w, out.ref_logp_l),
                   out.loss, kTol, "from fused logps"));
}

TEST(SpoLossKernelCpu, HalfAndDoubleInputs) {
  const auto in = make_pairs(3, {4, 6, 5}, PredictionType::Epsilon, kMixed, 9);
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    SCOPED_TRACE(c10::toString(dtype));
    const auto low = converted(in, dtype);
    // The fused path upcasts first: identical to running on the upcast values.
    const auto wide = converted(low, at::kFloat);
    const auto grad = fused_grad(low);
    EXPECT_EQ(grad.scalar_type(), dtype);
    EXPECT_TRUE(at::equal(grad, fused_grad(wide).to(dtype)));
    EXPECT_TRUE(at::equal(spo_loss(low).loss, spo_loss(wide).loss));
    compare_forward(spo_loss(low), spo_loss_reference(wide), kTol, "vs fp32 reference");
    EXPECT_TRUE(near(grad, reference_grad(wide), 1e-2, "vs fp32 autograd"));
  }
  const auto wide = converted(in, at::kDouble);
  const auto grad = fused_grad(wide);
  EXPECT_EQ(grad.scalar_type(), at::kDouble);
  EXPECT_TRUE(near(grad, reference_grad(wide), kTol, "float64 inputs"));
}

TEST(SpoLossKernelCpu, NoGradAndDataInputs) {
  const auto in = make_pairs(3, {5, 7}, PredictionType::Epsilon, kMixed, 10);
  const auto want = spo_loss(in);
  {
    at::NoGradGuard no_grad;
    SpoLossInputs leaf = in;
    leaf.policy_output = in.policy_output.clone().requires_grad_(true);
    const auto out = spo_loss(leaf);
    EXPECT_FALSE(out.loss.requires_grad());
    EXPECT_TRUE(at::equal(out.loss, want.loss));
  }
  // Data inputs that require grad get none: only the policy output is differentiable.
  SpoLossInputs leaves = in;
  for (auto* t : {&leaves.policy_output, &leaves.reference_output, &leaves.sample, &leaves.winner, &leaves.loser})
    *t = t->clone().requires_grad_(true);
  const auto out = spo_loss(leaves);
  EXPECT_TRUE(out.loss.requires_grad());
  EXPECT_FALSE(out.policy_logp_w.requires_grad());
  EXPECT_FALSE(out.ratio_w.requires_grad());
  out.loss.backward();
  EXPECT_TRUE(leaves.policy_output.grad().defined());
  for (auto* t : {&leaves.reference_output, &leaves.sample, &leaves.winner, &leaves.loser})
    EXPECT_FALSE(t->grad().defined());
}

// Chunk sums are added in a fixed order: identical bits on every run and for any thread count.
TEST(SpoLossKernelCpu, GradientIsDeterministic) {
  const auto in = make_pairs(10, {4, 64, 64}, PredictionType::Epsilon, kMixed, 11);
  const auto first = fused_grad(in), second = fused_grad(in);
  const auto loss = spo_loss(in).loss;
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto serial = fused_grad(in);
  const auto serial_loss = spo_loss(in).loss;
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(first, second)) << "gradient differs between runs";
  EXPECT_TRUE(at::equal(first, serial)) << "gradient depends on the thread count";
  EXPECT_TRUE(at::equal(loss, serial_loss)) << "loss depends on the thread count";
  EXPECT_TRUE(near(first, reference_grad(in), kFp32AutogradTol, "SD-1.5 latent size vs autograd"));
}

TEST(SpoLossKernelCpu, RejectsBadInputs) {
  const double kNan = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();
  const auto good = make_pairs(2, {3, 4}, PredictionType::Epsilon, {kBothInside}, 12);
  const auto expect_invalid = [](const SpoLossInputs& in, const std::string& fragment) {
    for (auto fn : {spo_loss, spo_loss_reference}) {
      try {
        fn(in);
        ADD_FAILURE() << "accepted; expected an error containing \"" << fragment << "\"";
      } catch (const spo::InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      }
    }
  };
  auto in = good;
  in.loser = good.loser.slice(2, 0, 3);
  expect_invalid(in, "spo_loss: loser (x_prev^l) must have the policy output's shape [2, 3, 4], got [2, 3, 3]");
  in = good;
  in.reference_output = good.reference_output.to(at::kInt);
  expect_invalid(in, "reference_output must be float32, float16, bfloat16 or float64");
  in = good;
  in.sample = at::Tensor();
  expect_invalid(in, "sample (x_t) is missing");
  in = good;
  in.policy_output = at::empty({0, 3, 4});
  expect_invalid(in, "N >= 1");
  in = good;
  in.policy_output = at::empty({2, 0});
  expect_invalid(in, "at least one element");
  in = good;
  in.alpha_t = at::tensor({0.5, 0.5, 0.5}, at::kDouble);
  expect_invalid(in, "alpha_t must be [N] = [2]");
  in = good;
  in.alpha_prev = at::tensor({1, 1}, at::kLong);
  expect_invalid(in, "alpha_prev must be a floating-point tensor");
  in = good;
  in.alpha_prev = at::tensor({0.5, 0.2}, at::kDouble);
  in.alpha_t = at::tensor({0.3, 0.2}, at::kDouble);
  expect_invalid(in, "pair 1: the step from alpha_t 0.2 to alpha_prev 0.2 has std 0");
  in = good;
  in.alpha_t = at::tensor({0.00628, 1.0}, at::kDouble);
  expect_invalid(in, "pair 1: alpha_t must lie in (0, 1)");
  in = good;
  in.alpha_prev = at::tensor({0.5, 1.0}, at::kDouble);
  expect_invalid(in, "has std 0");
  for (double eta : {0.0, -1.0, kNan}) {
    in = good;
    in.eta = eta;
    expect_invalid(in, "eta must be finite and > 0");
  }
  for (double beta : {0.0, -2.0, kInf, kNan}) {
    in = good;
    in.beta = beta;
    expect_invalid(in, "beta must be finite and > 0");
  }
  for (double eps : {0.0, 1.0, -0.1, 1.5, kNan}) {
    in = good;
    in.clip_eps = eps;
    expect_invalid(in, "clip_eps must lie in (0, 1)");
  }
  in = good;
  in.prediction = static_cast<PredictionType>(7);
  expect_invalid(in, "unknown prediction type 7");

  const auto v = at::zeros({3});
  EXPECT_THROW(dpo_loss_from_logps(v, v, v, at::zeros({4})), spo::InvalidArgument);
  EXPECT_THROW(dpo_loss_from_logps(at::zeros({}), at::zeros({}), at::zeros({}), at::zeros({})), spo::InvalidArgument);
  EXPECT_THROW(dpo_loss_from_logps(v, v.to(at::kInt), v, v), spo::InvalidArgument);
  EXPECT_THROW(dpo_loss_from_logps(v, v, v, v, 0.0), spo::InvalidArgument);
  EXPECT_THROW(dpo_loss_from_logps(v, v, v, v, 10.0, 1.0), spo::InvalidArgument);
}

TEST(SpoLossKernelCuda, MatchesCpu) {
  if (!cuda_kernels_compiled()) GTEST_SKIP() << "this build has no CUDA kernels";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const at::Device gpu(at::kCUDA, 0);
  for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction}) {
    for (const auto& c : kCases) {
      SCOPED_TRACE(name(c, pred));
      const auto cpu = make_pairs(c.pairs, c.element_shape, pred, kMixed, 13);
      const auto dev = converted(cpu, at::kFloat, gpu);
      const auto out = spo_loss(dev);
      EXPECT_TRUE(out.loss.is_cuda());
      compare_forward(out, spo_loss(cpu), kTol, "cuda vs cpu");
      compare_forward(out, spo_loss_reference(dev), kTol, "cuda vs reference");
      const auto grad = fused_grad(dev, 2.5);
      EXPECT_TRUE(grad.is_cuda());
      EXPECT_TRUE(near(grad, fused_grad(cpu, 2.5), kTol, "cuda grad vs cpu"));
      EXPECT_TRUE(near(grad, reference_grad(dev, 2.5), kFp32AutogradTol, "cuda grad vs autograd"));
      EXPECT_TRUE(near(grad, reference_grad(converted(dev, at::kDouble, gpu), 2.5), kTol, "cuda grad vs fp64"));
    }
  }
  const auto big = converted(make_pairs(10, {4, 64, 64}, PredictionType::Epsilon, kMixed, 14), at::kFloat, gpu);
  const auto g1 = fused_grad(big), g2 = fused_grad(big);
  EXPECT_TRUE(at::equal(g1, g2)) << "CUDA gradient differs between runs";
  EXPECT_TRUE(at::equal(spo_loss(big).loss, spo_loss(big).loss)) << "CUDA loss differs between runs";
  const auto half = converted(big, at::kHalf, gpu);
  EXPECT_EQ(fused_grad(half).scalar_type(), at::kHalf);
  EXPECT_TRUE(at::equal(fused_grad(half), fused_grad(converted(half, at::kFloat, gpu)).to(at::kHalf)));
}

// bf16 and fp16 on the GPU: the fused path upcasts first, so it equals itself
// on the upcast values bit for bit; forward against the fp32 ATen composition
// within kTol; the gradient (rounded once to the input dtype) against fp32
// autograd and against the CPU kernel on the same inputs within 1e-2 of its
// largest element, as the CPU half-precision test.
TEST(SpoLossKernelCuda, HalfPrecisionMatchesAten) {
  if (!cuda_kernels_compiled()) GTEST_SKIP() << "this build has no CUDA kernels";
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device on this machine";
  const at::Device gpu(at::kCUDA, 0);
  struct Sized {
    int64_t pairs;
    std::vector<int64_t> shape;
  };
  for (const auto& c : {Sized{3, {4, 6, 5}}, Sized{10, {4, 64, 64}}}) {
    for (auto pred : {PredictionType::Epsilon, PredictionType::VPrediction}) {
      const auto in = make_pairs(c.pairs, c.shape, pred, kMixed, 15);
      for (auto dtype : {at::kBFloat16, at::kHalf}) {
        SCOPED_TRACE(std::string(c10::toString(dtype)) + " " + pred_name(pred) + " N=" + std::to_string(c.pairs));
        const auto low_cpu = converted(in, dtype);
        const auto low = converted(in, dtype, gpu);
        const auto wide = converted(low, at::kFloat, gpu);
        const auto out = spo_loss(low);
        EXPECT_TRUE(out.loss.is_cuda());
        EXPECT_TRUE(at::equal(out.loss, spo_loss(wide).loss));
        compare_forward(out, spo_loss_reference(wide), kTol, "vs fp32 ATen");
        compare_forward(out, spo_loss(low_cpu), kTol, "vs CPU kernel");
        const auto grad = fused_grad(low, 2.5);
        EXPECT_TRUE(grad.is_cuda());
        EXPECT_EQ(grad.scalar_type(), dtype);
        EXPECT_TRUE(at::equal(grad, fused_grad(wide, 2.5).to(dtype)));
        EXPECT_TRUE(near(grad, reference_grad(wide, 2.5), 1e-2, "grad vs fp32 autograd"));
        EXPECT_TRUE(near(grad, fused_grad(low_cpu, 2.5), 1e-2, "grad vs CPU kernel"));
      }
    }
  }
}

// The scheduler against values computed by hand in double precision from the
// formulas of docs/method.md §1 and the diffusers definitions.
#include <gtest/gtest.h>

#include <cmath>

#include "diffusion/ddim_scheduler.h"
#include "diffusion/ddim_sampler.h"
#include "diffusion/gaussian_denoiser.h"
#include "runtime/errors.h"

using namespace spo::diffusion;

namespace {

std::vector<double> hand_alphas_cumprod(const std::vector<double>& betas) {
  std::vector<double> out;
  double prod = 1.0;
  for (double b : betas) out.push_back(prod *= (1.0 - b));
  return out;
}

void expect_schedule(const DdimScheduler& s, const std::vector<double>& betas) {
  const auto hand = hand_alphas_cumprod(betas);
  ASSERT_EQ(s.alphas_cumprod().numel(), static_cast<int64_t>(hand.size()));
  for (size_t i = 0; i < hand.size(); ++i) {
    EXPECT_NEAR(s.alphas_cumprod()[static_cast<int64_t>(i)].item<double>(), hand[i], 1e-6) << "t=" << i;
  }
}

}  // namespace

TEST(DdimSchedule, ScaledLinearMatchesHand) {
  DdimScheduler s{DdimConfig{}};
  std::vector<double> betas;
  const double a = std::sqrt(0.00085), b = std::sqrt(0.012);
  for (int i = 0; i < 1000; ++i) betas.push_back(std::pow(a + (b - a) * i / 999.0, 2));
  expect_schedule(s, betas);
  EXPECT_NEAR(s.alphas_cumprod()[0].item<double>(), 0.99915, 1e-7);
  EXPECT_NEAR(s.final_alpha_cumprod(), 0.99915, 1e-7);  // set_alpha_to_one = false
}

TEST(DdimSchedule, LinearAndCosineMatchHand) {
  DdimConfig lin;
  lin.beta_schedule = BetaSchedule::Linear;
  lin.beta_start = 0.0001;
  lin.beta_end = 0.02;
  std::vector<double> betas;
  for (int i = 0; i < 1000; ++i) betas.push_back(0.0001 + (0.02 - 0.0001) * i / 999.0);
  expect_schedule(DdimScheduler{lin}, betas);

  DdimConfig cos;
  cos.beta_schedule = BetaSchedule::SquaredCosCapV2;
  betas.clear();
  auto f = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  for (int i = 0; i < 1000; ++i) betas.push_back(std::min(1 - f((i + 1) / 1000.0) / f(i / 1000.0), 0.999));
  expect_schedule(DdimScheduler{cos}, betas);
}

TEST(DdimTimesteps, LeadingTrailingLinspace) {
  DdimScheduler lead{DdimConfig{}};
  lead.set_timesteps(20);
  ASSERT_EQ(lead.timesteps().size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(lead.timesteps()[i], 951 - 50 * i);
  EXPECT_EQ(lead.prev_timestep(51), 1);
  EXPECT_EQ(lead.prev_timestep(1), -49);

  DdimConfig tc;
  tc.timestep_spacing = TimestepSpacing::Trailing;
  tc.steps_offset = 0;
  DdimScheduler trail{tc};
  trail.set_timesteps(20);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(trail.timesteps()[i], 999 - 50 * i);
  trail.set_timesteps(3);  // arange(1000, 0, -333.33) = 1000, 666.67, 333.33 -> round - 1
  EXPECT_EQ(trail.timesteps(), (std::vector<int64_t>{999, 666, 332}));

  DdimConfig lc;
  lc.timestep_spacing = TimestepSpacing::Linspace;
  DdimScheduler lins{lc};
  lins.set_timesteps(4);  // linspace(0, 999, 4) = 0, 333, 666, 999
  EXPECT_EQ(lins.timesteps(), (std::vector<int64_t>{999, 666, 333, 0}));
  lins.set_timesteps(7);  // 999 * k / 6 = 166.5 (-> 166, half to even), 333, 499.5 (-> 500), 666, 832.5 (-> 832)
  EXPECT_EQ(lins.timesteps(), (std::vector<int64_t>{999, 832, 666, 500, 333, 166, 0}));
}

TEST(DdimStep, OneElementByHand) {
  DdimScheduler s{DdimConfig{}};
  s.set_timesteps(20);
  const double x = 0.5, eps = 0.2, z = 0.3;
  for (double eta : {0.0, 1.0}) {
    StepRequest r;
    r.sample = at::full({1, 1}, x, at::kFloat);
    r.model_output = at::full({1, 1}, eps, at::kFloat);
    r.timesteps = at::full({1}, 951, at::kLong);
    r.eta = eta;
    r.noise = at::full({1, 1}, z, at::kFloat);
    const auto out = s.step(r);

    const double a = s.alphas_cumprod()[951].item<double>(), ap = s.alphas_cumprod()[901].item<double>();
    const double x0 = (x - std::sqrt(1 - a) * eps) / std::sqrt(a);
    const double sd = eta * std::sqrt((1 - ap) / (1 - a) * (1 - a / ap));
    const double mean = std::sqrt(ap) * x0 + std::sqrt(1 - ap - sd * sd) * eps;
    const double prev = mean + sd * z;
    EXPECT_NEAR(out.pred_original.item<double>(), x0, 1e-6);
    EXPECT_NEAR(out.prev_sample.item<double>(), prev, 1e-6);
    if (eta > 0) {
      const double lp = -(prev - mean) * (prev - mean) / (2 * sd * sd) - std::log(sd) - std::log(std::sqrt(2 * M_PI));
      EXPECT_NEAR(out.log_prob.item<double>(), lp, 1e-6);
    } else {
      EXPECT_TRUE(std::isnan(out.log_prob.item<double>())) << "a deterministic step has no density";
    }
  }
}

TEST(DdimStep, LogProbIsAMeanNotASum) {
  DdimScheduler s{DdimConfig{}};
  s.set_timesteps(20);
  StepRequest r;
  r.sample = at::zeros({2, 4, 8, 8});
  r.model_output = at::zeros({2, 4, 8, 8});
  r.timesteps = at::tensor({501, 51}, at::kLong);
  r.eta = 1.0;
  r.seed = 7;
  const auto out = s.step(r);
  // Scoring x_prev = mean exactly gives the per-element constant, whatever the element count.
  StepRequest r2 = r;
  r2.seed.reset();
  r2.prev_sample = out.mean;
  const auto at_mean = s.step(r2);
  for (int b = 0; b < 2; ++b) {
    const double sd = at_mean.std[b].item<double>();
    EXPECT_NEAR(at_mean.log_prob[b].item<double>(), -std::log(sd) - 0.5 * std::log(2 * M_PI), 1e-5);
    // A drawn x_prev: the quadratic term is averaged over the 256 elements, not summed.
    const auto d = (out.prev_sample[b] - out.mean[b]).to(at::kDouble);
    const double mean_quadratic = (-d.pow(2) / (2 * sd * sd)).mean().item<double>();
    EXPECT_NEAR(out.log_prob[b].item<double>(), mean_quadratic - std::log(sd) - 0.5 * std::log(2 * M_PI), 1e-5);
  }
}

TEST(DdimStep, FinalStepUsesFinalAlphaOrClamp) {
  DdimConfig one;
  one.set_alpha_to_one = true;
  DdimScheduler s{one};
  s.set_timesteps(20);
  EXPECT_DOUBLE_EQ(s.alpha_cumprod_prev(-49), 1.0);
  one.clamp_prev_timestep = true;
  DdimScheduler c{one};
  c.set_timesteps(20);
  EXPECT_NEAR(c.alpha_cumprod_prev(-49), 0.99915, 1e-7);
}

TEST(DdimStep, AddNoiseAndVelocity) {
  DdimScheduler s{DdimConfig{}};
  auto x0 = at::randn({3, 2, 4});
  auto n = at::randn({3, 2, 4});
  auto t = at::tensor({0, 500, 999}, at::kLong);
  auto xt = s.add_noise(x0, n, t);
  auto v = s.get_velocity(x0, n, t);
  for (int b = 0; b < 3; ++b) {
    const double a = s.alphas_cumprod()[t[b].item<int64_t>()].item<double>();
    EXPECT_TRUE(at::allclose(xt[b], std::sqrt(a) * x0[b] + std::sqrt(1 - a) * n[b], 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(v[b], std::sqrt(a) * n[b] - std::sqrt(1 - a) * x0[b], 1e-5, 1e-6));
  }
}

TEST(DdimStep, RejectsBadInput) {
  DdimScheduler s{DdimConfig{}};
  StepRequest r;
  r.sample = at::zeros({2, 3});
  r.model_output = at::zeros({2, 3});
  r.timesteps = at::tensor({1, 2}, at::kLong);
  EXPECT_THROW(s.step(r), spo::InvalidArgument);  // no set_timesteps yet
  s.set_timesteps(10);
  r.model_output = at::zeros({2, 4});
  EXPECT_THROW(s.step(r), spo::InvalidArgument);
  r.model_output = at::zeros({2, 3});
  r.timesteps = at::tensor({1, 1000}, at::kLong);
  EXPECT_THROW(s.step(r), spo::InvalidArgument);
  r.timesteps = at::tensor({1, 2, 3}, at::kLong);
  EXPECT_THROW(s.step(r), spo::InvalidArgument);
  EXPECT_THROW(s.set_timesteps(0), spo::InvalidArgument);
  EXPECT_THROW(s.set_timesteps(1001), spo::InvalidArgument);
  DdimConfig bad;
  bad.beta_start = -1;
  EXPECT_THROW(DdimScheduler{bad}, spo::InvalidArgument);
}

// With the exact denoiser every DDIM step is affine in x_t, so the mean and
// variance of the whole chain follow a scalar recursion computed here in double:
// the sampler's empirical moments must match it (a wrong alpha, std or
// direction term shifts them). Discretisation keeps it a little off the target itself.
TEST(DdimSampler, ExactDenoiserFollowsTheAnalyticChain) {
  const double mu = 0.5, sigma = 0.3;
  DdimScheduler s{DdimConfig{}};
  GaussianDenoiser target{mu, sigma};
  auto model = [&](const at::Tensor& x, const at::Tensor&, const at::Tensor& a) { return target.predict_noise(x, a); };
  for (int steps : {10, 50}) {
    for (double eta : {0.0, 1.0}) {
      SampleRequest req;
      req.shape = {16, 4, 16, 16};
      req.steps = steps;
      req.eta = eta;
      const auto r = ddim_sample(s, model, req, spo::JobContext{});

      double m = 0.0, v = 1.0;
      for (int64_t t : s.timesteps()) {
        const double a = s.alphas_cumprod()[t].item<double>();
        const int64_t pt = t - 1000 / steps;
        const double ap = pt >= 0 ? s.alphas_cumprod()[pt].item<double>() : 0.99915;
        const double g = std::sqrt(1 - a) / (a * sigma * sigma + 1 - a);
        const double sd = eta * std::sqrt((1 - ap) / (1 - a) * (1 - a / ap));
        const double dir = std::sqrt(1 - ap - sd * sd);
        const double k1 = std::sqrt(ap) * (1 - std::sqrt(1 - a) * g) / std::sqrt(a) + dir * g;
        const double k0 = std::sqrt(ap) * std::sqrt(1 - a) * g * mu - dir * g * std::sqrt(a) * mu;
        m = k1 * m + k0;
        v = k1 * k1 * v + sd * sd;
      }
      SCOPED_TRACE("steps " + std::to_string(steps) + " eta " + std::to_string(eta));
      const auto [core_mean, core_std] = target.chain_moments(s, eta);
      EXPECT_NEAR(core_mean, m, 1e-6);
      EXPECT_NEAR(core_std, std::sqrt(v), 1e-6);
      EXPECT_NEAR(r.sample.mean().item<double>(), m, 0.01);
      EXPECT_NEAR(r.sample.std().item<double>(), std::sqrt(v), 0.006);
      if (steps == 50) {  // and with enough steps the chain itself lands near the target
        EXPECT_NEAR(m, mu, 0.02);
        EXPECT_NEAR(std::sqrt(v), sigma, 0.05);
      }
    }
  }
}

TEST(DdimSampler, StopsWhenCancelled) {
  DdimScheduler s{DdimConfig{}};
  GaussianDenoiser target{0.0, 1.0};
  auto flag = std::make_shared<std::atomic<bool>>(false);
  int reported = 0;
  spo::JobContext ctx(flag, [&](const spo::ProgressEvent& ev) {
    reported = static_cast<int>(ev.step);
    if (ev.step == 3) flag->store(true);
  });
  auto model = [&](const at::Tensor& x, const at::Tensor&, const at::Tensor& a) { return target.predict_noise(x, a); };
  SampleRequest req;
  req.shape = {1, 8};
  req.steps = 20;
  EXPECT_THROW(ddim_sample(s, model, req, ctx), spo::Cancelled);
  EXPECT_EQ(reported, 3);
}

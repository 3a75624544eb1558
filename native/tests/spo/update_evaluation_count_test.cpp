// What the SPO update costs, counted where the UNet does the work: a
// RecordFunction observer sums the rows that reach the UNet's first
// convolution (conv_in), split into policy forwards (grad mode on) and
// reference forwards (grad mode off). With guidance each latent is two rows
// (unconditional and conditional), so by hand:
//   n shared pairs   -> n latents per side    -> 2n rows per side
//   n unshared pairs -> 2n latents per side   -> 4n rows per side
// and a minibatch that mixes them costs the sum of its parts apart, in one
// policy and one reference forward. The mix's loss, ratios and LoRA
// gradients are the pair-weighted means of its parts'. (The mix's loss and
// gradients against PyTorch: PreferenceObjectivesVsPytorch.D3poRoundAndLoss,
// whose pairs are 2 shared and 6 unshared.)
#include <ATen/record_function.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/ddim_scheduler.h"
#include "models/lora.h"
#include "models/lora_file.h"
#include "pipeline/pipeline.h"
#include "spo/spo_update.h"

namespace spo::trainer {
namespace {

std::string fixture(const std::string& area, const std::string& name) {
  return std::string(SPO_FIXTURE_ROOT) + "/" + area + "/" + name;
}

// Rows seen by one convolution weight on this thread, and how many calls brought them.
struct ConvTally {
  const void* weight = nullptr;
  int64_t policy_rows = 0, reference_rows = 0, policy_calls = 0, reference_calls = 0;
};
thread_local ConvTally* g_tally = nullptr;

std::unique_ptr<at::ObserverContext> on_op(const at::RecordFunction& fn) {
  if (!g_tally || std::string(fn.name()) != "aten::conv2d") return nullptr;
  const auto inputs = fn.inputs();
  if (inputs.size() < 2 || !inputs[1].isTensor() || inputs[1].toTensor().data_ptr() != g_tally->weight) return nullptr;
  const int64_t rows = inputs[0].toTensor().size(0);
  if (at::GradMode::is_enabled()) {
    g_tally->policy_rows += rows;
    ++g_tally->policy_calls;
  } else {
    g_tally->reference_rows += rows;
    ++g_tally->reference_calls;
  }
  return nullptr;
}

// Counts conv_in's rows while alive.
class ConvInCounter {
 public:
  explicit ConvInCounter(models::UNet2DConditionModel& unet) {
    tally_.weight = unet->conv_in->weight.data_ptr();
    g_tally = &tally_;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(on_op).needsInputs(true));
  }
  ~ConvInCounter() {
    at::removeCallback(handle_);
    g_tally = nullptr;
  }
  const ConvTally& tally() const { return tally_; }

 private:
  ConvTally tally_;
  at::CallbackHandle handle_;
};

struct Setup {
  std::shared_ptr<pipeline::Pipeline> pipe;
  models::LoraSet lora;
  pipeline::Conditioning cond;
  SpoSettings settings;
  std::vector<TransitionPair> pairs;  // shared: 0, 2, 4; unshared: 1, 3
};

Setup make_setup() {
  Setup s;
  s.pipe = pipeline::Pipeline::load(fixture("pipeline", "sd15"));
  for (auto& t : s.pipe->unet()->parameters()) t.set_requires_grad(false);
  // The reference fixtures' LoRA: random up-projections, so the policy differs from the reference.
  s.lora = models::load_lora(fixture("spo", "lora/pytorch_lora_weights.safetensors"), *s.pipe->unet()).set;
  const int64_t size = s.pipe->default_size();
  s.cond = s.pipe->encode_prompts({"a red circle", "a blue square"}, std::nullopt, size, size);
  s.settings.steps = 4;
  s.settings.guidance_scale = 5.0;
  s.settings.guidance_in_training = true;
  s.settings.eta = 1.0;
  diffusion::DdimScheduler scheduler(s.pipe->scheduler_config());
  scheduler.set_timesteps(s.settings.steps);
  const int64_t c = s.pipe->latent_channels(), h = size / s.pipe->vae_scale_factor();
  at::manual_seed(11);
  for (int64_t i = 0; i < 5; ++i) {
    TransitionPair p;
    p.prompt = i % 2;
    p.timestep = scheduler.timesteps()[static_cast<size_t>(i % 4)];
    p.shared = i % 2 == 0;
    p.x_t_w = at::randn({c, h, h});
    p.x_t_l = p.shared ? p.x_t_w : at::randn({c, h, h});
    // Near the DDIM mean's scale: ratios land both inside and outside the clamp.
    p.x_w = 0.9 * p.x_t_w + 0.3 * at::randn({c, h, h});
    p.x_l = 0.9 * p.x_t_l + 0.3 * at::randn({c, h, h});
    s.pairs.push_back(std::move(p));
  }
  return s;
}

struct Run {
  UpdateStats stats;
  ConvTally tally;
  std::vector<at::Tensor> grads;
};

Run run_update(Setup& s, const std::vector<int>& which) {
  std::vector<const TransitionPair*> chunk;
  for (int i : which) chunk.push_back(&s.pairs[static_cast<size_t>(i)]);
  for (auto& t : s.lora.parameters()) t.mutable_grad() = at::Tensor();
  Run r;
  {
    ConvInCounter counter(s.pipe->unet());
    r.stats = spo_backward(*s.pipe, s.cond, chunk, s.settings, 1.0);
    r.tally = counter.tally();
  }
  for (auto& t : s.lora.parameters()) r.grads.push_back(t.grad().defined() ? t.grad().clone() : at::zeros_like(t));
  return r;
}

void expect_rows(const Run& r, int64_t rows_per_side, const char* what) {
  std::printf("[figures] %s: conv_in rows policy %lld in %lld call(s), reference %lld in %lld call(s)\n", what,
              static_cast<long long>(r.tally.policy_rows), static_cast<long long>(r.tally.policy_calls),
              static_cast<long long>(r.tally.reference_rows), static_cast<long long>(r.tally.reference_calls));
  EXPECT_EQ(r.tally.policy_rows, rows_per_side) << what << ": rows through the policy UNet";
  EXPECT_EQ(r.tally.reference_rows, rows_per_side) << what << ": rows through the reference UNet";
  EXPECT_EQ(r.tally.policy_calls, 1) << what << ": one policy forward";
  EXPECT_EQ(r.tally.reference_calls, 1) << what << ": one reference forward";
  // The update's own report: latents, each two rows under guidance.
  EXPECT_EQ(2 * r.stats.policy_evaluations, rows_per_side) << what;
  EXPECT_EQ(2 * r.stats.reference_evaluations, rows_per_side) << what;
}

TEST(SpoUpdateCost, MixedMinibatchCostsWhatItsPartsCostApart) {
  auto s = make_setup();
  const auto shared = run_update(s, {0, 2, 4});
  const auto unshared = run_update(s, {1, 3});
  const auto mixed = run_update(s, {0, 1, 2, 3, 4});
  expect_rows(shared, 2 * 3, "3 shared pairs");
  expect_rows(unshared, 4 * 2, "2 unshared pairs");
  expect_rows(mixed, 2 * 3 + 4 * 2, "3 shared + 2 unshared pairs");

  // The mix's figures are the pair-weighted means of its parts' (3 and 2 of 5).
  auto weighted = [](double a, double b) { return (3.0 * a + 2.0 * b) / 5.0; };
  const double want_loss = weighted(shared.stats.loss, unshared.stats.loss);
  std::printf("[figures] mixed loss %.9f, parts' weighted mean %.9f; clipped share %.2f\n", mixed.stats.loss,
              want_loss, mixed.stats.clipped_share);
  EXPECT_NEAR(mixed.stats.loss, want_loss, 1e-6 * std::abs(want_loss));
  EXPECT_NEAR(mixed.stats.ratio_w, weighted(shared.stats.ratio_w, unshared.stats.ratio_w), 1e-6);
  EXPECT_NEAR(mixed.stats.ratio_l, weighted(shared.stats.ratio_l, unshared.stats.ratio_l), 1e-6);
  EXPECT_NEAR(mixed.stats.clipped_share, weighted(shared.stats.clipped_share, unshared.stats.clipped_share), 1e-6);
  double diff2 = 0.0, want2 = 0.0;
  for (size_t i = 0; i < mixed.grads.size(); ++i) {
    const auto want = (3.0 * shared.grads[i].to(at::kDouble) + 2.0 * unshared.grads[i].to(at::kDouble)) / 5.0;
    diff2 += (mixed.grads[i].to(at::kDouble) - want).pow(2).sum().item<double>();
    want2 += want.pow(2).sum().item<double>();
  }
  ASSERT_GT(want2, 0.0) << "the LoRA got no gradient";
  std::printf("[figures] mixed LoRA gradient vs the parts' weighted mean: rel %.2e\n", std::sqrt(diff2 / want2));
  EXPECT_LE(std::sqrt(diff2 / want2), 1e-5);
}

}  // namespace
}  // namespace spo::trainer

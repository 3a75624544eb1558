// The engine's preference objectives against plain PyTorch + peft
// (test/python/preference_objectives.py, run by make_spo_fixtures.py in
// float64) on the tiny SD-1.5 pipeline and the same starting LoRA:
//   SPO's update, default and parity mode: the loss and every LoRA gradient,
//     one AdamW step's weights, three successive updates' losses;
//   D3PO: the round's pairs (two trajectories from one x_T, every step, the
//     final images' strict preference on every step) and its loss and gradients;
//   Diffusion-DPO: the loss and gradients of one batch.
// Tolerance 1e-5 relative (the engine runs in fp32, the reference in float64).
// Each check prints its worst relative difference ("[figures]").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "evaluator/image_scorer.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "models/lora.h"
#include "models/lora_file.h"
#include "spo/d3po_round.h"
#include "spo/diffusion_dpo.h"
#include "spo/round_update.h"
#include "spo/spo_update.h"

namespace spo::trainer {
namespace {

constexpr double kTol = 1e-5;

std::string fixture(const std::string& area, const std::string& name) {
  return std::string(SPO_FIXTURE_ROOT) + "/" + area + "/" + name;
}

const io::Json& cases() {
  static const io::Json c = io::read_json(fixture("spo", "cases.json"));
  return c;
}

std::vector<std::string> prompts() { return cases()["prompts"].get<std::vector<std::string>>(); }

// The tiny pipeline with the reference's starting LoRA attached (trainable), base weights frozen.
struct Policy {
  std::shared_ptr<pipeline::Pipeline> pipe;
  models::LoraSet lora;
  pipeline::Conditioning cond;
};

Policy load_policy() {
  Policy p;
  p.pipe = pipeline::Pipeline::load(fixture("pipeline", "sd15"));
  for (auto& t : p.pipe->unet()->parameters()) t.set_requires_grad(false);
  p.lora = models::load_lora(fixture("spo", "lora/pytorch_lora_weights.safetensors"), *p.pipe->unet()).set;
  const int64_t size = p.pipe->default_size();
  p.cond = p.pipe->encode_prompts(prompts(), std::nullopt, size, size);
  return p;
}

// Parity mode's reference: a LoRA-free copy of the UNet's base weights.
std::unique_ptr<models::UNet2DConditionModel> copied_reference(pipeline::Pipeline& pipe) {
  auto copy = std::make_unique<models::UNet2DConditionModel>(pipe.unet()->config, at::TensorOptions());
  at::NoGradGuard no_grad;
  auto src = pipe.unet()->named_parameters(true);
  for (auto& p : (*copy)->named_parameters(true)) p.value().copy_(src[p.key()]);
  return copy;
}

// Every LoRA tensor under peft's key: "<module>.lora_A.weight" (down), ".lora_B.weight" (up).
std::vector<std::pair<std::string, at::Tensor>> named_lora(const models::LoraSet& set) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& l : set.layers) {
    out.emplace_back(l.name + ".lora_A.weight", l.branch->down);
    out.emplace_back(l.name + ".lora_B.weight", l.branch->up);
  }
  return out;
}

double relative(double got, double want) { return std::abs(got - want) / std::max(std::abs(want), 1e-30); }

// got against `prefix.<key>` of `refs`: ||got - want|| / ||want|| over all tensors
// together (`whole`) and the worst single tensor (`worst`, at `where`).
struct Gap {
  double whole = 0.0, worst = 0.0;
  std::string where;
};

Gap tensor_gap(const std::vector<std::pair<std::string, at::Tensor>>& got, const io::SafeTensorsFile& refs,
               const std::string& prefix) {
  Gap gap;
  double diff2 = 0.0, want2 = 0.0;
  for (const auto& [key, t] : got) {
    const auto want = refs.tensor(prefix + "." + key).to(at::kDouble);
    const double d = (t.detach().to(at::kDouble) - want).norm().item<double>(), w = want.norm().item<double>();
    diff2 += d * d;
    want2 += w * w;
    if (!(d / std::max(w, 1e-30) <= gap.worst)) {  // NaN counts as the worst
      gap.worst = d / std::max(w, 1e-30);
      gap.where = key;
    }
  }
  gap.whole = std::sqrt(diff2 / std::max(want2, 1e-60));
  return gap;
}

// The gradients against the reference's: 1e-5 over the whole gradient; single
// tensors to 1e-4, since a float32 run of the reference itself lands 1.4e-5 from
// its float64 run on the smallest of them (3e-6 over the whole).
void expect_gradients_match(const Gap& g, const std::string& what) {
  std::printf("[figures] %s: gradient rel %.2e whole, worst tensor %.2e (%s)\n", what.c_str(), g.whole, g.worst,
              g.where.c_str());
  EXPECT_LE(g.whole, kTol) << what << ": the LoRA gradient";
  EXPECT_LE(g.worst, 10 * kTol) << what << ": the gradient of " << g.where;
}

std::vector<std::pair<std::string, at::Tensor>> gradients(const models::LoraSet& set) {
  auto named = named_lora(set);
  for (auto& [key, t] : named) {
    EXPECT_TRUE(t.grad().defined()) << key << " got no gradient";
    t = t.grad().defined() ? t.grad().clone() : at::zeros_like(t);
  }
  return named;
}

void clear_gradients(const models::LoraSet& set) {
  for (auto& t : set.parameters()) t.mutable_grad() = at::Tensor();
}

SpoSettings reference_settings() {
  const auto& c = cases()["spo"];
  SpoSettings s;
  s.steps = c["steps"].get<int64_t>();
  s.guidance_scale = c["guidance_scale"].get<double>();
  s.guidance_in_training = true;
  s.eta = c["eta"].get<double>();
  s.beta = c["beta"].get<double>();
  s.clip_eps = c["clip_eps"].get<double>();
  s.learning_rate = c["learning_rate"].get<double>();
  s.adam_beta1 = c["adam_beta1"].get<double>();
  s.adam_beta2 = c["adam_beta2"].get<double>();
  s.adam_eps = c["adam_eps"].get<double>();
  s.weight_decay = c["weight_decay"].get<double>();
  s.max_grad_norm = c["max_grad_norm"].get<double>();
  s.gradient_accumulation = 1;
  return s;
}

// Pairs from `refs` (tensors <prefix>x_t or x_t_w / x_t_l, x_w, x_l, timesteps, prompts).
std::vector<TransitionPair> load_pairs(const io::SafeTensorsFile& refs, const std::string& prefix) {
  const bool one_x_t = refs.find(prefix + "x_t") != nullptr;
  const auto x_t_w = refs.tensor(prefix + (one_x_t ? "x_t" : "x_t_w")).clone();
  const auto x_t_l = refs.tensor(prefix + (one_x_t ? "x_t" : "x_t_l")).clone();
  const auto x_w = refs.tensor(prefix + "x_w").clone(), x_l = refs.tensor(prefix + "x_l").clone();
  const auto t = refs.tensor(prefix + "timesteps"), rows = refs.tensor(prefix + "prompts");
  std::vector<TransitionPair> pairs;
  for (int64_t i = 0; i < x_w.size(0); ++i) {
    TransitionPair p;
    p.prompt = rows[i].item<int64_t>();
    p.timestep = t[i].item<int64_t>();
    p.x_t_w = x_t_w[i];
    p.shared = at::equal(x_t_w[i], x_t_l[i]);
    p.x_t_l = p.shared ? p.x_t_w : x_t_l[i];
    p.x_w = x_w[i];
    p.x_l = x_l[i];
    pairs.push_back(std::move(p));
  }
  return pairs;
}

std::vector<const TransitionPair*> pointers(const std::vector<TransitionPair>& pairs) {
  std::vector<const TransitionPair*> out;
  for (const auto& p : pairs) out.push_back(&p);
  return out;
}

void spo_update_matches_reference(UpdateMode mode) {
  const auto refs = io::SafeTensorsFile::open(fixture("spo", "spo_update.safetensors"));
  const auto& expected = cases()["spo"];
  auto policy = load_policy();
  auto s = reference_settings();
  s.mode = mode;
  auto copy = mode == UpdateMode::Parity ? copied_reference(*policy.pipe) : nullptr;
  models::UNet2DConditionModel* reference = copy ? copy.get() : nullptr;
  const char* tag = update_mode_name(mode);

  std::vector<std::pair<std::string, at::Tensor>> start;
  for (const auto& [key, t] : named_lora(policy.lora)) start.emplace_back(key, t.detach().clone());
  auto moved = [&] {  // each LoRA tensor minus its start
    auto named = named_lora(policy.lora);
    for (size_t i = 0; i < named.size(); ++i) named[i].second = named[i].second.detach() - start[i].second;
    return named;
  };
  auto tensors = policy.lora.parameters();
  auto optimizer = make_lora_optimizer(tensors, s);
  std::vector<double> losses;
  for (int64_t r = 0; r < 3; ++r) {
    const auto pairs = load_pairs(*refs, "r" + std::to_string(r) + ".");
    if (r == 0) {
      // The loss and every LoRA gradient of the first minibatch.
      const auto st = spo_backward(*policy.pipe, policy.cond, pointers(pairs), s, 1.0, reference);
      const double want = expected["losses"][0].get<double>();
      std::printf("[figures] SPO %s: loss %.12f vs %.12f (rel %.2e)\n", tag, st.loss, want, relative(st.loss, want));
      EXPECT_LE(relative(st.loss, want), kTol) << tag << " loss " << st.loss << " vs the reference's " << want;
      expect_gradients_match(tensor_gap(gradients(policy.lora), *refs, "grad"), std::string("SPO ") + tag);
      clear_gradients(policy.lora);
    }
    std::vector<int64_t> all(pairs.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    TrainRunResult result;
    update_round(*policy.pipe, policy.cond, pairs, {all}, s, optimizer, tensors, reference, r, nullptr, JobContext{},
                 result);
    ASSERT_EQ(result.optimizer_steps, 1);
    losses.push_back(result.losses.at(0));
    if (r == 0 || r == 2) {
      // The weights equal to 1e-5 relative; their change (each element about lr = 1e-3,
      // held in fp32 weights of |w| ~ 0.7, and Adam's g / sqrt(v) amplifies float32
      // noise where g is near 0) to 1e-3 relative over the whole LoRA.
      const std::string step = r == 0 ? "step1" : "step3";
      const auto change = tensor_gap(moved(), *refs, step);
      double weight_gap = 0.0, weight_max = 0.0;
      for (size_t i = 0; i < start.size(); ++i) {
        const auto want = start[i].second.to(at::kDouble) + refs->tensor(step + "." + start[i].first).to(at::kDouble);
        weight_gap = std::max(weight_gap, (named_lora(policy.lora)[i].second.detach().to(at::kDouble) - want)
                                              .abs().max().item<double>());
        weight_max = std::max(weight_max, want.abs().max().item<double>());
      }
      std::printf("[figures] SPO %s: after %s, weights max rel %.2e; their change rel %.2e whole, worst tensor %.2e (%s)\n",
                  tag, step.c_str(), weight_gap / weight_max, change.whole, change.worst, change.where.c_str());
      EXPECT_LE(weight_gap / weight_max, kTol) << tag << " weights after " << step;
      EXPECT_LE(change.whole, 1e-3) << tag << " AdamW change after " << step;
    }
  }
  for (size_t r = 0; r < 3; ++r) {
    const double want = expected["losses"][r].get<double>();
    std::printf("[figures] SPO %s: round %zu loss %.12f vs %.12f (rel %.2e)\n", tag, r + 1, losses[r], want,
                relative(losses[r], want));
    EXPECT_LE(relative(losses[r], want), kTol) << tag << " round " << r + 1;
  }
}

TEST(PreferenceObjectivesVsPytorch, SpoUpdateDefaultMode) { spo_update_matches_reference(UpdateMode::Spo); }

TEST(PreferenceObjectivesVsPytorch, SpoUpdateParityMode) { spo_update_matches_reference(UpdateMode::Parity); }

// The fixture's judge: the decoded image's mean pixel value (it depends on the images only).
class MeanPixelJudge : public evaluator::ImageScorer {
 public:
  at::Tensor score_images(const at::Tensor& images, const std::vector<std::string>&, const at::Tensor&,
                          int64_t) override {
    return images.to(at::kFloat).mean({1, 2, 3}).cpu();
  }
};

TEST(PreferenceObjectivesVsPytorch, D3poRoundAndLoss) {
  const auto refs = io::SafeTensorsFile::open(fixture("spo", "d3po.safetensors"));
  const auto& expected = cases()["d3po"];
  auto policy = load_policy();
  auto s = reference_settings();
  s.method = Method::D3po;
  s.steps = expected["steps"].get<int64_t>();
  // SPO's divert start and pair threshold do not apply to D3PO's round (the reference has neither).
  s.divert_start_step = 2;
  s.threshold = 0.99;
  MeanPixelJudge judge;
  const auto round = run_d3po_round(*policy.pipe, judge, prompts(), s, expected["seed"].get<uint64_t>());
  const auto want_pairs = load_pairs(*refs, "");
  // Every step of both trajectories, labelled by the final images' preference.
  ASSERT_EQ(round.pairs.size(), want_pairs.size()) << "pairs per round";
  double worst_latent = 0.0;
  for (size_t i = 0; i < want_pairs.size(); ++i) {
    const auto& got = round.pairs[i];
    const auto& want = want_pairs[i];
    EXPECT_EQ(got.prompt, want.prompt) << i;
    EXPECT_EQ(got.timestep, want.timestep) << i;
    EXPECT_EQ(got.shared, want.shared) << i;
    const std::vector<std::pair<at::Tensor, at::Tensor>> sides = {
        {got.x_t_w, want.x_t_w}, {got.x_t_l, want.x_t_l}, {got.x_w, want.x_w}, {got.x_l, want.x_l}};
    for (const auto& [g, w] : sides) worst_latent = std::max(worst_latent, (g - w).abs().max().item<double>());
  }
  std::printf("[figures] D3PO: %zu pairs; worst |latent difference| engine vs reference sampling %.2e\n",
              want_pairs.size(), worst_latent);
  EXPECT_LE(worst_latent, 1e-4) << "the round's latents (a swapped winner differs by O(1))";

  // The loss and gradients on the reference's pairs, in both update modes.
  auto copy = copied_reference(*policy.pipe);
  for (const auto mode : {UpdateMode::Spo, UpdateMode::Parity}) {
    s.mode = mode;
    const auto st = spo_backward(*policy.pipe, policy.cond, pointers(want_pairs), s, 1.0,
                                 mode == UpdateMode::Parity ? copy.get() : nullptr);
    const double want = expected["loss"].get<double>();
    const std::string what = std::string("D3PO ") + update_mode_name(mode);
    std::printf("[figures] %s: loss %.12f vs %.12f (rel %.2e)\n", what.c_str(), st.loss, want, relative(st.loss, want));
    EXPECT_LE(relative(st.loss, want), kTol) << what;
    expect_gradients_match(tensor_gap(gradients(policy.lora), *refs, "grad"), what);
    clear_gradients(policy.lora);
  }
}

TEST(PreferenceObjectivesVsPytorch, DiffusionDpoLoss) {
  const auto refs = io::SafeTensorsFile::open(fixture("spo", "diffusion_dpo.safetensors"));
  const auto& expected = cases()["diffusion_dpo"];
  auto policy = load_policy();
  const auto out = diffusion_dpo_backward(*policy.pipe, policy.cond, refs->tensor("x_w").clone(),
                                          refs->tensor("x_l").clone(), refs->tensor("noise").clone(),
                                          refs->tensor("timesteps").clone(), expected["beta"].get<double>());
  const double want = expected["loss"].get<double>();
  std::printf("[figures] Diffusion-DPO: loss %.12f vs %.12f (rel %.2e)\n", out.loss, want, relative(out.loss, want));
  EXPECT_LE(relative(out.loss, want), kTol);
  expect_gradients_match(tensor_gap(gradients(policy.lora), *refs, "grad"), "Diffusion-DPO");
}

}  // namespace
}  // namespace spo::trainer

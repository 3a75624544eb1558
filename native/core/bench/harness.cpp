#include "bench/harness.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>

#include "bench/timing.h"
#include "kernels/adaln.h"
#include "kernels/device_memory.h"
#include "kernels/spo_loss.h"
#include "models/flop_counter.h"
#include "models/lora.h"
#include "runtime/errors.h"
#include "runtime/threads.h"
#include "spo/sampling_round.h"
#include "spo/spo_update.h"

namespace spo::bench {
namespace {

using nlohmann::json;

bool wants(const BenchOptions& o, const std::string& section) {
  return std::find(o.sections.begin(), o.sections.end(), section) != o.sections.end();
}

json ceiling(at::Device device, const BenchOptions& o, double& best) {
  json sizes = json::array();
  best = 0.0;
  for (int64_t n : {1024, 2048, 3072}) {
    const auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
    const auto a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
    auto t = time_calls([&] { at::mm(a, b); }, o.warmup, std::max(3, o.reps), device.is_cuda());
    const double rate = 2.0 * n * n * n / t.median();
    best = std::max(best, rate);
    sizes.push_back({{"n", n}, {"gflops", rate / 1e9}, {"time", t.to_json()}});
  }
  // A 3x3 convolution as well: oneDNN's convolutions can beat the library's sgemm on the same cores.
  const auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
  const auto x = at::randn({2, 256, 64, 64}, opts), w = at::randn({256, 256, 3, 3}, opts);
  auto t = time_calls([&] { at::conv2d(x, w, {}, 1, 1); }, o.warmup, std::max(3, o.reps), device.is_cuda());
  const double conv_rate = 2.0 * 2 * 256 * 64 * 64 * 256 * 9 / t.median();
  best = std::max(best, conv_rate);
  return {{"best_gflops", best / 1e9}, {"sizes", sizes},
          {"conv3x3", {{"shape", "2x256x64x64 * 256x256x3x3"}, {"gflops", conv_rate / 1e9}, {"time", t.to_json()}}},
          {"note", "fp32: the best of at::mm at three sizes and a 3x3 convolution is the ceiling every component "
                   "is compared with"}};
}

// Times `fn`, counts the FLOPs of one call (times `flop_factor`), and reports the rate against the ceiling.
json component(const std::string& name, int64_t batch, const std::function<void()>& fn, double flop_factor,
               const BenchOptions& o, bool cuda, double ceiling_rate, const std::string& counting) {
  double counted = 0.0;
  {
    models::FlopCountScope scope;
    fn();
    counted = scope.flops() * flop_factor;
  }
  auto t = time_calls(fn, o.warmup, o.reps, cuda);
  const double rate = counted / t.median();
  return {{"name", name}, {"batch", batch}, {"time", t.to_json()}, {"gflop", counted / 1e9}, {"gflops", rate / 1e9},
          {"share_of_ceiling", ceiling_rate > 0 ? rate / ceiling_rate : 0.0}, {"flops_counted", counting}};
}

std::optional<models::UNet2DConditionModel> copied_reference(pipeline::Pipeline& pipe) {
  std::optional<models::UNet2DConditionModel> ref;
  ref.emplace(pipe.unet()->config, at::TensorOptions().device(pipe.options().device).dtype(pipe.options().dtype));
  at::NoGradGuard no_grad;
  auto src = pipe.unet()->named_parameters(true);
  for (auto& p : (*ref)->named_parameters(true)) {
    p.value().copy_(src[p.key()]);
    p.value().set_requires_grad(false);
  }
  return ref;
}

void clear_grads(const models::LoraSet& lora) {
  for (auto& p : lora.parameters()) p.mutable_grad() = at::Tensor();
}

}  // namespace

json run_bench(pipeline::Pipeline& pipe, evaluator::PreferenceModel& judge, const BenchOptions& o,
               const JobContext& ctx) {
  require(!o.prompts.empty(), "bench: no prompts");
  o.settings.validate();
  require(models::find_lora(*pipe.unet()).layers.empty(), "bench: the pipeline already has a LoRA");
  const auto& s = o.settings;
  const auto device = pipe.options().device;
  const bool cuda = device.is_cuda();
  const int64_t b = static_cast<int64_t>(o.prompts.size());
  const int64_t size = s.height ? s.height : pipe.default_size();
  json report;
  report["machine"] = {{"device", device.str()}, {"dtype", c10::toString(pipe.options().dtype)},
                       {"intra_op_threads", at::get_num_threads()}};
  report["settings"] = s.to_json();
  int64_t section = 0;
  const int64_t sections = static_cast<int64_t>(o.sections.size());
  auto progress = [&](const char* name) {
    ctx.check_cancelled();
    ctx.report({"bench", ++section, sections, 0.0, {}});
    (void)name;
  };

  double ceiling_rate = 0.0;
  if (wants(o, "ceiling")) {
    report["ceiling"] = ceiling(device, o, ceiling_rate);
    progress("ceiling");
  }

  for (auto& p : pipe.unet()->parameters()) p.set_requires_grad(false);
  models::LoraConfig lc;
  lc.rank = s.lora_rank;
  lc.alpha = s.lora_alpha;
  auto lora = models::attach_lora(*pipe.unet(), lc, device);
  struct Detach {
    pipeline::Pipeline& p;
    ~Detach() { models::detach_lora(*p.unet()); }
  } detach{pipe};

  const auto cond = [&] {
    at::NoGradGuard g;
    return pipe.encode_prompts(o.prompts, std::nullopt, size, size);
  }();

  if (wants(o, "components")) {
    json list = json::array();
    const int64_t f = pipe.vae_scale_factor();
    const auto latents = at::randn({b, pipe.latent_channels(), size / f, size / f}).to(device, pipe.options().dtype);
    const auto t = at::full({b}, 500, at::kLong).to(device);
    list.push_back(component("text encoding", b, [&] {
      at::NoGradGuard g;
      pipe.encode_prompts(o.prompts, std::nullopt, size, size);
    }, 1.0, o, cuda, ceiling_rate, "Linear and attention of the text encoder(s), both prompt branches"));
    list.push_back(component("UNet forward (guided: 2B rows)", b, [&] {
      at::NoGradGuard g;
      pipeline::guided_unet_output(pipe.unet(), latents, t, cond, s.guidance_scale);
    }, 1.0, o, cuda, ceiling_rate, "Linear, Conv2d and attention from the layer shapes"));
    list.push_back(component("UNet forward+backward (guided, LoRA)", b, [&] {
      auto out = pipeline::guided_unet_output(pipe.unet(), latents, t, cond, s.guidance_scale);
      out.pow(2).mean().backward();
      clear_grads(lora);
    }, 2.0, o, cuda, ceiling_rate, "forward counted x 2: the frozen layers' backward is one input-gradient product each"));
    const auto decode_in = at::randn({b, pipe.latent_channels(), size / f, size / f});
    list.push_back(component("VAE decode", b, [&] { pipe.decode(decode_in); }, 1.0, o, cuda, ceiling_rate,
                             "Conv2d and attention of the decoder"));
    const auto images = at::rand({b, 3, size, size}) * 2 - 1;
    list.push_back(component("preference model score", b, [&] {
      judge.score_images(images, o.prompts, at::full({b}, 500, at::kLong));
    }, 1.0, o, cuda, ceiling_rate, "vision and text towers (adaLN modulation Linear included)"));
    report["components"] = list;
    progress("components");
  }

  // The round's sampling, after the components have warmed every model up; its pairs feed the update.
  // On a GPU the memory figure is the caching allocator's peak from here to the end of the round
  // section (sampling, the update comparison, kernels, the round's update); RSS says nothing about device memory.
  if (cuda) kernels::reset_device_memory_peak(device.index() < 0 ? 0 : device.index());
  auto t0 = std::chrono::steady_clock::now();
  auto round = [&] {
    models::LoraDisabledScope base_model(*pipe.unet());  // sampling sees the base model, as a round's first does
    return trainer::run_sampling_round(pipe, judge, o.prompts, s, s.seed, ctx);
  }();
  const double sampling_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The update on the first train_batch_size kept pairs (shared x_t): default against parity.
  std::vector<const trainer::TransitionPair*> batch;
  for (const auto& p : round.pairs)
    if (p.shared && static_cast<int64_t>(batch.size()) < s.train_batch_size) batch.push_back(&p);
  if (wants(o, "update")) {
    if (batch.empty()) {
      report["update"] = {{"skipped", "the sampling round kept no shared pair; lower the threshold"}};
    } else {
      auto parity_settings = s;
      parity_settings.mode = trainer::UpdateMode::Parity;
      auto ref = copied_reference(pipe);
      trainer::UpdateStats st_default, st_parity;
      auto t_default = time_calls([&] {
        st_default = trainer::spo_backward(pipe, cond, batch, s, 1.0);
        clear_grads(lora);
      }, o.warmup, o.reps, cuda);
      auto t_parity = time_calls([&] {
        st_parity = trainer::spo_backward(pipe, cond, batch, parity_settings, 1.0, &*ref);
        clear_grads(lora);
      }, o.warmup, o.reps, cuda);
      const double n = static_cast<double>(batch.size());
      auto side = [&](const Timing& t, const trainer::UpdateStats& st) {
        return json{{"time", t.to_json()}, {"policy_evaluations", st.policy_evaluations},
                    {"reference_evaluations", st.reference_evaluations},
                    {"evaluations_per_pair", (st.policy_evaluations + st.reference_evaluations) / n}};
      };
      report["update"] = {{"pairs", batch.size()}, {"default", side(t_default, st_default)},
                          {"parity", side(t_parity, st_parity)},
                          {"speedup_vs_parity", t_parity.median() / t_default.median()}};
    }
    progress("update");
  }

  if (wants(o, "kernels")) {
    json list = json::array();
    // The SPO loss at the update's shape.
    const int64_t n = std::max<int64_t>(1, s.train_batch_size), f = pipe.vae_scale_factor();
    const auto shape = std::vector<int64_t>{n, pipe.latent_channels(), size / f, size / f};
    kernels::SpoLossInputs in;
    in.sample = at::randn(shape);
    in.reference_output = at::randn(shape);
    in.winner = at::randn(shape);
    in.loser = at::randn(shape);
    in.alpha_t = at::full({n}, 0.5, at::kDouble);
    in.alpha_prev = at::full({n}, 0.6, at::kDouble);
    const auto policy = (in.reference_output + 0.01 * at::randn(shape)).to(device);
    for (auto* t : {&in.sample, &in.reference_output, &in.winner, &in.loser}) *t = t->to(device);
    auto run_loss = [&](bool fused) {
      in.policy_output = policy.detach().requires_grad_();
      auto out = fused ? kernels::spo_loss(in) : kernels::spo_loss_reference(in);
      out.loss.backward();
    };
    auto fused = time_calls([&] { run_loss(true); }, o.warmup, std::max(5, o.reps), cuda);
    auto aten = time_calls([&] { run_loss(false); }, o.warmup, std::max(5, o.reps), cuda);
    list.push_back({{"name", "SPO loss forward+backward"}, {"shape", shape}, {"fused", fused.to_json()},
                    {"aten", aten.to_json()}, {"speedup", aten.median() / fused.median()}});
    // adaLN modulate + gated residual at the preference model's vision shape.
    const auto& vc = judge.model()->config.vision;
    const int64_t d = vc.hidden_size, tokens = vc.num_positions();
    const auto topts = at::TensorOptions().device(device);
    const auto x = at::randn({b, tokens, d}, topts), res = at::randn({b, tokens, d}, topts);
    const auto w = at::randn({d}, topts), bias = at::randn({d}, topts);
    const auto shift = at::randn({b, d}, topts), sc = at::randn({b, d}, topts), gate = at::randn({b, d}, topts);
    auto run_adaln = [&](bool fused_path) {
      auto xg = x.detach().requires_grad_(), sg = shift.detach().requires_grad_(), cg = sc.detach().requires_grad_();
      auto gg = gate.detach().requires_grad_();
      auto y = fused_path ? kernels::adaln_modulate(xg, w, bias, sg, cg, 1e-5)
                          : kernels::adaln_modulate_reference(xg, w, bias, sg, cg, 1e-5);
      auto out = fused_path ? kernels::gated_residual(res, y, gg) : kernels::gated_residual_reference(res, y, gg);
      out.sum().backward();
    };
    auto a_fused = time_calls([&] { run_adaln(true); }, o.warmup, std::max(5, o.reps), cuda);
    auto a_aten = time_calls([&] { run_adaln(false); }, o.warmup, std::max(5, o.reps), cuda);
    list.push_back({{"name", "adaLN modulate + gated residual forward+backward"}, {"shape", {b, tokens, d}},
                    {"fused", a_fused.to_json()}, {"aten", a_aten.to_json()},
                    {"speedup", a_aten.median() / a_fused.median()}});
    report["kernels"] = list;
    progress("kernels");
  }

  if (wants(o, "round")) {
    // The update pass over every kept pair of the round, in minibatches, as the trainer runs it.
    int64_t update_evals = 0;
    std::vector<const trainer::TransitionPair*> all;
    for (const auto& p : round.pairs) all.push_back(&p);
    auto t1 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < all.size(); i += static_cast<size_t>(s.train_batch_size)) {
      std::vector<const trainer::TransitionPair*> chunk(all.begin() + static_cast<long>(i),
                                                        all.begin() + static_cast<long>(std::min(all.size(), i + s.train_batch_size)));
      auto st = trainer::spo_backward(pipe, cond, chunk, s, 1.0);
      update_evals += st.policy_evaluations + st.reference_evaluations;
      clear_grads(lora);
    }
    const double update_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const double kept = static_cast<double>(round.stats.pairs_kept);
    report["round"] = {{"prompts", b}, {"k", s.k}, {"steps", s.steps}, {"sampling_s", sampling_s},
                       {"update_s", update_s}, {"pairs_kept", round.stats.pairs_kept},
                       {"pairs_tied", round.stats.pairs_tied}, {"sampling_evaluations", round.stats.model_evaluations},
                       {"update_evaluations", update_evals},
                       {"sampling_evaluations_per_kept_pair", kept > 0 ? round.stats.model_evaluations / kept : 0.0},
                       {"update_evaluations_per_kept_pair", kept > 0 ? update_evals / kept : 0.0},
                       {"pairs_per_second", kept / (sampling_s + update_s)}, {"peak_rss_bytes", peak_rss_bytes()}};
    if (cuda) report["round"]["peak_device_bytes"] = kernels::device_memory_peak(device.index() < 0 ? 0 : device.index());
    progress("round");
  }
  return report;
}

}  // namespace spo::bench

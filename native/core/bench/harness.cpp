#include "bench/harness.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>
#include <optional>

#include <torch/nn/utils/clip_grad.h>

#include "bench/round_timing.h"
#include "bench/timing.h"
#include "kernels/adaln/adaln.h"
#include "kernels/ddim_step/ddim_step.h"
#include "kernels/device_memory/device_memory.h"
#include "kernels/spo_loss/spo_loss.h"
#include "models/flop_counter.h"
#include "models/lora.h"
#include "runtime/errors.h"
#include "runtime/threads.h"
#include "spo/round_update.h"
#include "spo/spo_update.h"

namespace spo::bench {
namespace {

using nlohmann::json;

bool wants(const BenchOptions& o, const std::string& section) {
  return std::find(o.sections.begin(), o.sections.end(), section) != o.sections.end();
}

// The ceiling: on a CPU the best fp32 rate of at::mm at three sizes and of a
// 3x3 convolution; on a GPU the same in the pipeline's dtype (bf16 / fp16 run
// on the tensor cores) at sizes that fill the device, with fp32 for context.
json ceiling(at::Device device, at::ScalarType dtype, const BenchOptions& o, double& best) {
  const bool cuda = device.is_cuda();
  const at::ScalarType ceiling_dtype = cuda ? dtype : at::kFloat;
  const auto opts = at::TensorOptions().device(device).dtype(ceiling_dtype);
  const std::vector<int64_t> ns = cuda ? std::vector<int64_t>{2048, 4096, 8192} : std::vector<int64_t>{1024, 2048, 3072};
  json sizes = json::array();
  best = 0.0;
  for (int64_t n : ns) {
    const auto a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
    auto t = time_calls([&] { at::mm(a, b); }, std::max(1, o.warmup), std::max(3, o.reps), cuda);
    const double rate = 2.0 * n * n * n / t.median();
    best = std::max(best, rate);
    sizes.push_back({{"n", n}, {"gflops", rate / 1e9}, {"time", t.to_json()}});
  }
  // A 3x3 convolution as well: oneDNN's convolutions can beat the library's sgemm on the same cores.
  const int64_t cb = cuda ? 16 : 2;
  const auto x = at::randn({cb, 256, 64, 64}, opts), w = at::randn({256, 256, 3, 3}, opts);
  auto t = time_calls([&] { at::conv2d(x, w, {}, 1, 1); }, std::max(1, o.warmup), std::max(3, o.reps), cuda);
  const double conv_rate = 2.0 * cb * 256 * 64 * 64 * 256 * 9 / t.median();
  best = std::max(best, conv_rate);
  json out = {{"best_gflops", best / 1e9}, {"dtype", c10::toString(ceiling_dtype)}, {"sizes", sizes},
              {"conv3x3", {{"shape", std::to_string(cb) + "x256x64x64 * 256x256x3x3"}, {"gflops", conv_rate / 1e9},
                           {"time", t.to_json()}}}};
  if (cuda) {
    const auto a = at::randn({8192, 8192}, opts.dtype(at::kFloat)), b = at::randn({8192, 8192}, opts.dtype(at::kFloat));
    auto t32 = time_calls([&] { at::mm(a, b); }, 1, 3, true);
    out["fp32_mm_8192_gflops"] = 2.0 * 8192 * 8192 * 8192 / t32.median() / 1e9;
    out["note"] = std::string(c10::toString(ceiling_dtype)) +
                  ": the best of at::mm at 2048/4096/8192 and a 3x3 convolution in the pipeline's dtype is the "
                  "ceiling every component is compared with";
  } else {
    out["note"] = "fp32: the best of at::mm at three sizes and a 3x3 convolution is the ceiling every component "
                  "is compared with";
  }
  return out;
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
  if (cuda) kernels::reset_device_memory_peak(0);
  auto t = time_calls(fn, o.warmup, o.reps, cuda);
  const double rate = counted / t.median();
  json out = {{"name", name}, {"batch", batch}, {"time", t.to_json()}, {"gflop", counted / 1e9}, {"gflops", rate / 1e9},
              {"share_of_ceiling", ceiling_rate > 0 ? rate / ceiling_rate : 0.0}, {"flops_counted", counting}};
  if (cuda) out["peak_device_bytes"] = kernels::device_memory_peak(0);
  return out;
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

// The LoRA's tensors as they are now, to start a second update from the same point.
std::vector<at::Tensor> snapshot(const models::LoraSet& lora) {
  std::vector<at::Tensor> out;
  for (const auto& p : lora.parameters()) out.push_back(p.detach().clone());
  return out;
}

void restore(const models::LoraSet& lora, const std::vector<at::Tensor>& saved) {
  at::NoGradGuard no_grad;
  const auto tensors = lora.parameters();
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].copy_(saved[i]);
}

// One score of B latents first, so that the latent round's figures hold no first-call costs.
void warm_up_latent(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge, const std::vector<std::string>& prompts,
                    int64_t size, const trainer::SpoSettings& s) {
  const int64_t b = static_cast<int64_t>(prompts.size()), f = pipe.vae_scale_factor();
  judge.score_candidates(at::Tensor(), at::zeros({b, pipe.latent_channels(), size / f, size / f}), prompts,
                         at::zeros({b}, at::kLong), s.max_batch);
}

}  // namespace

json run_bench(pipeline::Pipeline& pipe, evaluator::PreferenceModel& judge, const BenchOptions& o,
               const JobContext& ctx, evaluator::ImageScorer* latent_judge) {
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
    report["ceiling"] = ceiling(device, pipe.options().dtype, o, ceiling_rate);
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
    {
      // One sampling step of the round: the k candidates of every prompt through the guided
      // UNet, then the fused DDIM step + log-prob.
      const int64_t k = std::max<int64_t>(1, s.k);
      const auto cond_k = cond.repeat_rows(k);
      const auto lat_k = at::randn({b * k, pipe.latent_channels(), size / f, size / f}).to(device, pipe.options().dtype);
      const auto t_k = at::full({b * k}, 500, at::kLong).to(device);
      kernels::DdimStepInputs step;
      step.sample = lat_k;
      step.noise = at::randn(lat_k.sizes()).to(device);
      step.alpha_t = at::full({b * k}, 0.276, at::kDouble);
      step.alpha_prev = at::full({b * k}, 0.340, at::kDouble);
      step.eta = s.eta;
      list.push_back(component("candidate denoising step (B x k latents: guided UNet + DDIM step)", b * k, [&] {
        at::NoGradGuard g;
        auto in = step;
        in.model_output = pipeline::guided_unet_output(pipe.unet(), lat_k, t_k, cond_k, s.guidance_scale);
        kernels::ddim_step_fused(in);
      }, 1.0, o, cuda, ceiling_rate, "Linear, Conv2d and attention from the layer shapes (the DDIM step is not counted)"));
    }
    report["components"] = list;
    progress("components");
  }

  if (!wants(o, "components") && o.warmup > 0) {
    // Without the components section nothing has run yet: one guided UNet call, one decode and one
    // score first, so that the round's figures hold no first-call costs (the Python baseline warms up too).
    at::NoGradGuard g;
    const int64_t f = pipe.vae_scale_factor();
    const auto latents = at::zeros({b, pipe.latent_channels(), size / f, size / f});
    pipe.guided_model_output(latents, at::full({b}, 500, at::kLong), cond, s.guidance_scale, s.max_batch);
    const auto images = pipe.decode(latents);
    judge.score_images(images, o.prompts, at::zeros({b}, at::kLong), s.max_batch);
  }

  // The round's sampling, after the components have warmed every model up; its pairs feed the update.
  // On a GPU the memory figure is the caching allocator's peak over the round's sampling and, in the
  // round section, over the round's update (the larger of the two); RSS says nothing about device memory.
  const int device_index = device.index() < 0 ? 0 : device.index();
  if (cuda) kernels::reset_device_memory_peak(device_index);
  auto sampled = time_sampling(pipe, judge, o.prompts, s, ctx);
  const auto& round = sampled.round;
  const int64_t sampling_peak = cuda ? kernels::device_memory_peak(device_index) : -1;

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
      ref.reset();
      // One whole optimizer step of the trainer (backward, gradient-norm clipping, AdamW on the
      // fp32 LoRA), with gradient checkpointing off and on. FLOPs: the forwards counted once
      // without checkpointing; the policy's backward adds one input-gradient product per frozen
      // layer (its forward again), so model FLOPs = counted * (ref + 2 pol) / (ref + pol).
      // Checkpointing's recomputation is work on top, not counted.
      double model_flops = 0.0;
      {
        pipe.unet()->set_gradient_checkpointing(false);
        models::FlopCountScope scope;
        auto st = trainer::spo_backward(pipe, cond, batch, s, 1.0);
        clear_grads(lora);
        const double pol = static_cast<double>(st.policy_evaluations), refs = static_cast<double>(st.reference_evaluations);
        model_flops = pol + refs > 0 ? scope.flops() * (refs + 2 * pol) / (refs + pol) : 0.0;
      }
      const auto tensors = lora.parameters();
      auto optimizer = trainer::make_lora_optimizer(tensors, s);
      json steps = json::array();
      for (bool checkpointing : {false, true}) {
        pipe.unet()->set_gradient_checkpointing(checkpointing);
        if (cuda) kernels::reset_device_memory_peak(device_index);
        const int64_t live = cuda ? kernels::device_memory_allocated(device_index) : -1;
        auto t_step = time_calls([&] {
          optimizer.zero_grad();
          trainer::spo_backward(pipe, cond, batch, s, 1.0);
          if (s.max_grad_norm > 0 && !s.authors_noop_clip) torch::nn::utils::clip_grad_norm_(tensors, s.max_grad_norm);
          optimizer.step();
        }, o.warmup, o.reps, cuda);
        const double rate = model_flops / t_step.median();
        json row = {{"gradient_checkpointing", checkpointing}, {"time", t_step.to_json()},
                    {"model_gflop", model_flops / 1e9}, {"gflops", rate / 1e9},
                    {"share_of_ceiling", ceiling_rate > 0 ? rate / ceiling_rate : 0.0}};
        if (cuda) {
          row["peak_device_bytes"] = kernels::device_memory_peak(device_index);
          row["live_device_bytes_before"] = live;
        }
        steps.push_back(row);
      }
      pipe.unet()->set_gradient_checkpointing(false);
      optimizer.zero_grad();
      clear_grads(lora);
      report["update"]["optimizer_step"] = {
          {"pairs", batch.size()}, {"variants", steps},
          {"lora_dtype", c10::toString(tensors.empty() ? at::kFloat : tensors.front().scalar_type())},
          {"flops_counted", "forwards counted (policy and reference); the frozen layers' backward as the policy "
                            "forward again; checkpointing's recomputation not counted"}};
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
    // The LoRA moves; the latent round's update starts again from where this one started.
    const auto lora_start = snapshot(lora);
    if (cuda) kernels::reset_device_memory_peak(device_index);
    const auto updated = time_update(pipe, cond, lora, round.pairs, s);
    report["round"] = {{"prompts", b}, {"k", s.k}, {"steps", s.steps}, {"peak_rss_bytes", peak_rss_bytes()}};
    report["round"].update(round_json(sampled, updated));
    if (cuda) {
      report["round"]["sampling_peak_device_bytes"] = sampling_peak;
      report["round"]["peak_device_bytes"] = std::max(sampling_peak, kernels::device_memory_peak(device_index));
    }
    if (latent_judge != nullptr) {
      // The same round scored by the latent evaluator: same prompts, seed, k, steps and pair rule;
      // no x0 prediction, no decode, no pixel CLIP while sampling.
      restore(lora, lora_start);
      if (o.warmup > 0) warm_up_latent(pipe, *latent_judge, o.prompts, size, s);
      const auto latent_sampled = time_sampling(pipe, *latent_judge, o.prompts, s, ctx);
      const auto latent_updated = time_update(pipe, cond, lora, latent_sampled.round.pairs, s);
      auto latent = round_json(latent_sampled, latent_updated);
      const double pixel_s = sampled.seconds + updated.seconds;
      const double latent_s = latent_sampled.seconds + latent_updated.seconds;
      latent["round_s"] = latent_s;
      latent["latent_round_vs_engine_pixel"] = pixel_s / latent_s;
      report["round"]["latent"] = latent;
    }
    progress("round");
  }
  return report;
}

}  // namespace spo::bench

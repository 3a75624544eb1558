#include "bench/round_timing.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include <torch/nn/utils/clip_grad.h>

#include "bench/backward_clock.h"
#include "bench/timing.h"
#include "spo/round_update.h"
#include "spo/spo_update.h"

namespace spo::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

TimedSampling time_sampling(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                            const std::vector<std::string>& prompts, const trainer::SpoSettings& s,
                            const JobContext& ctx) {
  const bool cuda = pipe.options().device.is_cuda();
  TimedSampling out;
  const auto t0 = Clock::now();
  {
    profile::PhaseRecording recording(out.phases, cuda ? std::function<void()>([] { synchronize(true); })
                                                       : std::function<void()>());
    models::LoraDisabledScope base_model(*pipe.unet());  // sampling sees the base model, as a round's first does
    out.round = trainer::run_sampling_round(pipe, judge, prompts, s, s.seed, ctx);
  }
  out.seconds = seconds_between(t0, Clock::now());
  return out;
}

TimedUpdate time_update(pipeline::Pipeline& pipe, const pipeline::Conditioning& cond, const models::LoraSet& lora,
                        const std::vector<trainer::TransitionPair>& pairs, const trainer::SpoSettings& s) {
  const bool cuda = pipe.options().device.is_cuda();
  std::vector<const trainer::TransitionPair*> all;
  for (const auto& p : pairs) all.push_back(&p);
  const auto tensors = lora.parameters();
  auto optimizer = trainer::make_lora_optimizer(tensors, s);
  optimizer.zero_grad();
  TimedUpdate out;
  BackwardClock backward_clock;
  const auto t1 = Clock::now();
  const auto batch = static_cast<size_t>(s.train_batch_size);
  for (size_t i = 0; i < all.size(); i += batch) {
    std::vector<const trainer::TransitionPair*> chunk(all.begin() + static_cast<long>(i),
                                                      all.begin() + static_cast<long>(std::min(all.size(), i + batch)));
    backward_clock.reset();
    const auto start = Clock::now();
    auto st = trainer::spo_backward(pipe, cond, chunk, s, 1.0);
    synchronize(cuda);
    const auto done = Clock::now();
    Clock::time_point backward_start;
    if (backward_clock.first_backward(backward_start) && backward_start >= start && backward_start <= done) {
      out.phases.add(profile::Phase::UpdateForwards, seconds_between(start, backward_start));
      out.phases.add(profile::Phase::Backward, seconds_between(backward_start, done));
    } else {
      out.phases.add(profile::Phase::UpdateForwards, seconds_between(start, done));
    }
    out.evaluations += st.policy_evaluations + st.reference_evaluations;
    const auto step_start = Clock::now();
    if (s.max_grad_norm > 0 && !s.authors_noop_clip) torch::nn::utils::clip_grad_norm_(tensors, s.max_grad_norm);
    optimizer.step();
    optimizer.zero_grad();
    synchronize(cuda);
    out.phases.add(profile::Phase::OptimizerStep, seconds_between(step_start, Clock::now()));
  }
  out.seconds = seconds_between(t1, Clock::now());
  return out;
}

nlohmann::json phases_json(const profile::PhaseTotals& t, double total_s) {
  nlohmann::json seconds = nlohmann::json::object(), calls = nlohmann::json::object();
  double named = 0.0;
  for (int i = 0; i < profile::kPhaseCount; ++i) {
    const auto p = static_cast<profile::Phase>(i);
    if (p == profile::Phase::Other) continue;
    seconds[profile::phase_name(p)] = t.seconds[i];
    calls[profile::phase_name(p)] = t.calls[i];
    named += t.seconds[i];
  }
  seconds[profile::phase_name(profile::Phase::Other)] = std::max(0.0, total_s - named);
  return {{"seconds", seconds}, {"calls", calls}, {"total_s", total_s}};
}

nlohmann::json round_json(const TimedSampling& sampling, const TimedUpdate& update) {
  const auto& st = sampling.round.stats;
  const double kept = static_cast<double>(st.pairs_kept);
  return {{"sampling_s", sampling.seconds}, {"update_s", update.seconds}, {"pairs_kept", st.pairs_kept},
          {"pairs_tied", st.pairs_tied}, {"sampling_evaluations", st.model_evaluations},
          {"update_evaluations", update.evaluations},
          {"sampling_evaluations_per_kept_pair", kept > 0 ? st.model_evaluations / kept : 0.0},
          {"update_evaluations_per_kept_pair", kept > 0 ? update.evaluations / kept : 0.0},
          {"pairs_per_second", kept / (sampling.seconds + update.seconds)},
          {"profile", {{"sampling", phases_json(sampling.phases, sampling.seconds)},
                       {"update", phases_json(update.phases, update.seconds)}}}};
}

}  // namespace spo::bench

#include "spo/sampling_round.h"

#include "evaluator/pair_rule.h"
#include "runtime/errors.h"
#include "runtime/phase_profile.h"
#include "spo/round_sampler.h"

namespace spo::trainer {
namespace {

uint64_t draw_seed(at::Generator& gen) {
  return static_cast<uint64_t>(at::randint(0, int64_t(1) << 62, {1}, gen, at::kLong).item<int64_t>());
}

// The prompt list with each prompt repeated `times` times in place.
std::vector<std::string> repeat_each(const std::vector<std::string>& prompts, int64_t times) {
  std::vector<std::string> out;
  for (const auto& p : prompts)
    for (int64_t i = 0; i < times; ++i) out.push_back(p);
  return out;
}

}  // namespace

Choice choose(const std::vector<double>& scores, const SpoSettings& s, at::Generator& gen) {
  Choice c;
  if (s.pair_selection == PairSelection::BestWorst) {
    const auto p = evaluator::choose_pair(scores, s.threshold);
    return {p.winner, p.loser, p.margin, p.kept};
  }
  const int64_t k = static_cast<int64_t>(scores.size());
  auto perm = at::randperm(k, gen, at::kLong);
  int64_t a = perm[0].item<int64_t>(), b = perm[1].item<int64_t>();
  if (scores[b] > scores[a]) std::swap(a, b);
  c.winner = a;
  c.loser = b;
  c.margin = evaluator::pair_margin(scores[a], scores[b]);
  c.kept = c.margin > s.threshold;
  return c;
}

int64_t resample(const Choice& c, int64_t k, Resampler mode, at::Generator& gen) {
  switch (mode) {
    case Resampler::Win: return c.winner;
    case Resampler::Lose: return c.loser;
    case Resampler::Random: return at::randint(0, k, {1}, gen, at::kLong).item<int64_t>();
    case Resampler::None: break;
  }
  throw Error(ErrorCode::Internal, "resample: Resampler::None keeps every trajectory");
}

SamplingRound run_sampling_round(pipeline::Pipeline& pipe, evaluator::ImageScorer& judge,
                                 const std::vector<std::string>& prompts, const SpoSettings& s, uint64_t seed,
                                 const JobContext& ctx) {
  RoundSampler sampler(pipe, prompts, s, seed, "sampling round");  // no gradients while it lives
  SamplingRound round;
  auto& st = round.stats;
  const int64_t P = static_cast<int64_t>(prompts.size());
  const bool independent = s.resampler == Resampler::None;
  auto& gen = sampler.gen;
  const auto& ts = sampler.timesteps();
  const int64_t n_steps = sampler.steps();
  auto cond = sampler.encode(prompts);

  // One trajectory per prompt; with the `none` resampler k per prompt (rows p*k .. p*k+k-1),
  // each from its own x_T, that share nothing (the paper's independent-trajectories ablation).
  std::vector<std::string> rows_prompts = independent ? repeat_each(prompts, s.k) : prompts;
  if (independent) cond = cond.repeat_rows(s.k);
  const auto& rows_cond = cond;
  const int64_t rows = independent ? P * s.k : P;
  at::Tensor x = sampler.initial_latents(rows);
  // Ordinary stochastic DDIM before the first branch.
  int64_t i = 0;
  for (; i < s.divert_start_step; ++i) {
    ctx.check_cancelled();
    x = sampler.step(x, i, cond);
    st.model_evaluations += rows;
    ctx.report({"sample", i + 1, n_steps, static_cast<double>(ts[i]), {}});
  }

  const int64_t per_row = independent ? 1 : s.k;
  // A latent scorer judges the candidates themselves: no x0 prediction, no decode; the
  // next branch's guided output is then computed for the kept trajectories alone.
  const bool pixels = judge.needs_images();
  at::Tensor eps;
  {
    profile::PhaseScope phase(profile::Phase::CandidateUnet);
    eps = pipe.guided_model_output(x.to(pipe.options().device), at::full({rows}, ts[i], at::kLong), rows_cond,
                                   s.guidance_scale, s.max_batch).to(at::kCPU);
  }
  st.model_evaluations += rows;

  while (i < n_steps) {
    ctx.check_cancelled();
    const int64_t j = std::min(s.transitions_per_chain, n_steps - i);
    pipeline::CandidateRequest req;
    req.prompts = rows_prompts;
    req.latents = x;
    req.model_output = eps;
    req.timestep = ts[i];
    req.steps = s.steps;
    req.k = per_row;
    req.transitions_per_chain = j;
    req.guidance_scale = s.guidance_scale;
    req.eta = s.eta;
    req.seed = draw_seed(gen);
    req.predict_x0 = pixels;
    req.decode = pixels;
    req.max_batch = s.max_batch;
    req.conditioning = rows_cond;  // encoded once per round
    auto res = pipe.candidates(req, ctx);
    // A non-finite policy poisons every later latent: no round can go on from here.
    if (!at::isfinite(res.candidates).all().item<bool>() || (pixels && !at::isfinite(res.images).all().item<bool>()))
      throw NumericFault("sampling: a candidate latent or its decoded image is NaN or Inf at t = " +
                         std::to_string(ts[i]) + " (non-finite UNet or LoRA weights?)");
    const bool last = res.prev_timestep < 0;
    st.model_evaluations += rows * per_row * ((j - 1) + (last || !pixels ? 0 : 1));
    ++st.branch_steps;

    // Score every candidate at its own timestep (clean latents at t = 0).
    const int64_t score_t = last ? 0 : res.prev_timestep;
    const int64_t scored = rows * per_row;
    auto images = pixels ? res.images.flatten(0, 1) : at::Tensor();  // [rows * per_row, 3, H, W]
    auto scores = [&] {
      profile::PhaseScope phase(profile::Phase::Evaluator);
      return judge.score_candidates(images, res.candidates.flatten(0, 1), repeat_each(rows_prompts, per_row),
                                    at::full({scored}, score_t, at::kLong), s.max_batch);
    }().view({P, s.k});
    st.images_scored += scored;
    auto chain = res.chain.view({P, s.k, j, x.size(1), x.size(2), x.size(3)});
    const bool cut = s.kappa >= 0 && ts[i] > s.kappa;

    std::vector<int64_t> next(static_cast<size_t>(P));
    for (int64_t p = 0; p < P; ++p) {
      std::vector<double> row(scores[p].data_ptr<float>(), scores[p].data_ptr<float>() + s.k);
      const Choice c = choose(row, s, gen);
      if (!c.kept) ++st.pairs_tied;
      else if (cut) ++st.pairs_cut;
      else {
        // The shared x_t (or each trajectory's own), then every transition of the two chains.
        const auto start_w = independent ? x[p * s.k + c.winner] : x[p];
        const auto start_l = independent ? x[p * s.k + c.loser] : x[p];
        for (int64_t m = 0; m < j; ++m) {
          TransitionPair pair;
          pair.prompt = p;
          pair.timestep = res.chain_timesteps[static_cast<size_t>(m)];
          pair.x_t_w = m == 0 ? start_w : chain[p][c.winner][m - 1];
          pair.x_t_l = m == 0 ? start_l : chain[p][c.loser][m - 1];
          pair.shared = m == 0 && !independent;
          if (pair.shared) pair.x_t_l = pair.x_t_w;
          pair.x_w = chain[p][c.winner][m];
          pair.x_l = chain[p][c.loser][m];
          pair.margin = c.margin;
          round.pairs.push_back(std::move(pair));
          ++st.pairs_kept;
        }
      }
      if (!independent) next[static_cast<size_t>(p)] = resample(c, s.k, s.resampler, gen);
    }
    i += j;
    ctx.report({"sample", i, n_steps, static_cast<double>(ts[std::min(i, n_steps) - 1]),
                {{"pairsKept", double(st.pairs_kept)}, {"pairsTied", double(st.pairs_tied)}}});
    if (i >= n_steps) break;
    auto cands = res.candidates;  // [rows, per_row, C, h, w]
    auto outs = res.model_output;
    if (independent) {
      x = cands.select(1, 0);
      if (pixels) eps = outs.select(1, 0);
    } else {
      auto index = at::tensor(next, at::kLong);
      x = cands.index({at::arange(P), index});
      if (pixels) eps = outs.index({at::arange(P), index});
    }
    if (!pixels) {
      profile::PhaseScope phase(profile::Phase::CandidateUnet);
      eps = pipe.guided_model_output(x.to(pipe.options().device), at::full({rows}, ts[i], at::kLong), rows_cond,
                                     s.guidance_scale, s.max_batch).to(at::kCPU);
      st.model_evaluations += rows;
    }
  }
  for (auto& p : round.pairs) {  // own the data: the views above pin the whole round's tensors
    p.x_t_w = p.x_t_w.clone();
    p.x_t_l = p.shared ? p.x_t_w : p.x_t_l.clone();
    p.x_w = p.x_w.clone();
    p.x_l = p.x_l.clone();
  }
  return round;
}

}  // namespace spo::trainer

#include "pretraining/rollout_pairs.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "evaluator/rollout_scorer.h"
#include "io/safetensors.h"
#include "pretraining/world_dataset.h"
#include "runtime/errors.h"
#include "spo/sampling_round.h"
#include "world/judge.h"
#include "world/judge_scorer.h"

namespace spo::pretraining {
namespace {

// Passes the round's candidates to the rollout judge and keeps what the
// evaluator will be trained on: each candidate's x0-prediction image, its
// timestep and the judge's total of where it ends.
class RecordingScorer : public evaluator::ImageScorer {
 public:
  RecordingScorer(pipeline::Pipeline& pipe, const RolloutPairOptions& o)
      : judge_(1.0, o.track), rollout_(pipe, judge_, {o.steps, o.guidance_scale}) {}
  at::Tensor score_images(const at::Tensor&, const std::vector<std::string>&, const at::Tensor&, int64_t) override {
    throw Error(ErrorCode::Internal, "rollout pairs: the round scores candidates with their latents");
  }
  at::Tensor score_candidates(const at::Tensor& images, const at::Tensor& latents,
                              const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                              int64_t max_batch) override {
    auto totals = rollout_.score_candidates(images, latents, prompts, timesteps, max_batch);
    calls.push_back({images.to(at::kFloat).clone(), prompts, timesteps.clone(), totals.clone()});
    return totals;
  }
  struct Call {
    at::Tensor images;
    std::vector<std::string> prompts;
    at::Tensor timesteps, totals;
  };
  std::vector<Call> calls;

 private:
  world::JudgeScorer judge_;
  evaluator::RolloutScorer rollout_;
};

}  // namespace

std::vector<evaluator::PreferencePair> rollout_pairs(pipeline::Pipeline& pipe, const std::vector<std::string>& prompts,
                                                     const RolloutPairOptions& o, RolloutPairStats* stats,
                                                     const JobContext& ctx) {
  require(!prompts.empty(), "rollout pairs: no prompts");
  require(o.k >= 2, "rollout pairs: k must be >= 2");
  require(o.prompts_per_round >= 1, "rollout pairs: prompts per round must be >= 1");
  require(o.tie_margin >= 0 && o.tie_margin < 1, "rollout pairs: the tie margin must be in [0, 1)");
  trainer::SpoSettings s;
  s.steps = o.steps;
  s.guidance_scale = o.guidance_scale;
  s.k = o.k;
  s.divert_start_step = o.divert_start_step;
  s.resampler = trainer::Resampler::Random;  // the trajectory goes on from a random candidate, as SPO's
  s.validate();
  std::vector<evaluator::PreferencePair> pairs;
  RolloutPairStats local;
  const int64_t n = static_cast<int64_t>(prompts.size());
  for (int64_t start = 0, round = 0; start < n; start += o.prompts_per_round, ++round) {
    ctx.check_cancelled();
    const std::vector<std::string> batch(prompts.begin() + start, prompts.begin() + std::min(n, start + o.prompts_per_round));
    RecordingScorer scorer(pipe, o);
    auto result = trainer::run_sampling_round(pipe, scorer, batch, s, mix_seed(o.seed, 0x70, static_cast<uint64_t>(round)));
    local.sampling_evaluations += result.stats.model_evaluations;
    for (const auto& call : scorer.calls) {
      const auto totals = call.totals.contiguous();
      const float* tot = totals.data_ptr<float>();
      for (int64_t g = 0; g + o.k <= static_cast<int64_t>(call.prompts.size()); g += o.k) {
        ++local.groups;
        for (int64_t a = g; a < g + o.k; ++a)
          for (int64_t b = a + 1; b < g + o.k; ++b) {
            evaluator::PreferencePair p;
            p.prompt = call.prompts[static_cast<size_t>(a)];
            p.image_0 = call.images[a];
            p.image_1 = call.images[b];
            p.timestep = call.timesteps[a].item<int64_t>();
            p.label_0 = world::label_probability(world::label_totals(tot[a], tot[b], o.tie_margin));
            if (p.label_0 == 0.5) ++local.ties;
            pairs.push_back(std::move(p));
          }
      }
    }
    ctx.report({"rollout-pairs", std::min(n, start + o.prompts_per_round), n, 0.0,
                {{"pairs", static_cast<double>(pairs.size())}}});
  }
  if (stats) *stats = local;
  return pairs;
}

}  // namespace spo::pretraining

namespace spo::pretraining {

std::vector<BandAccuracy> judge_reads_x0(const std::vector<evaluator::PreferencePair>& pairs, world::Track track) {
  std::vector<BandAccuracy> bands = {{0, 1}, {1, 300}, {300, 600}, {600, 1000}};
  std::vector<double> right(bands.size(), 0.0);
  for (const auto& p : pairs) {
    if (p.label_0 == 0.5) continue;
    for (size_t b = 0; b < bands.size(); ++b) {
      if (p.timestep < bands[b].lo || p.timestep >= bands[b].hi) continue;
      const double d = world::judge_total(track, p.image_0, p.prompt) - world::judge_total(track, p.image_1, p.prompt);
      right[b] += d == 0 ? 0.5 : ((d > 0) == (p.label_0 > 0.5) ? 1.0 : 0.0);
      ++bands[b].pairs;
    }
  }
  for (size_t b = 0; b < bands.size(); ++b)
    bands[b].accuracy = bands[b].pairs ? right[b] / static_cast<double>(bands[b].pairs) : NAN;
  return bands;
}

void save_pair_set(const std::string& path, const std::vector<evaluator::PreferencePair>& pairs) {
  evaluator::check_pairs(pairs, "save pair set");
  std::vector<at::Tensor> images;
  std::vector<float> labels;
  std::vector<int64_t> timesteps;
  nlohmann::json prompts = nlohmann::json::array();
  for (const auto& p : pairs) {
    images.push_back(at::stack({p.image_0, p.image_1}).to(at::kHalf));
    labels.push_back(static_cast<float>(p.label_0));
    timesteps.push_back(p.timestep);
    prompts.push_back(p.prompt);
  }
  io::save_safetensors(path,
                       {{"images", at::stack(images)},
                        {"labels", at::tensor(labels, at::kFloat)},
                        {"timesteps", at::tensor(timesteps, at::kLong)}},
                       {{"prompts", prompts.dump()}});
}

std::vector<evaluator::PreferencePair> load_pair_set(const std::string& path) {
  auto file = io::SafeTensorsFile::open(path);
  const auto meta = file->metadata().find("prompts");
  if (meta == file->metadata().end()) throw InvalidArgument(path + ": no 'prompts' in the metadata");
  const auto prompts = nlohmann::json::parse(meta->second, nullptr, false);
  auto images = file->tensor("images").to(at::kFloat);
  auto labels = file->tensor("labels").to(at::kFloat);
  auto timesteps = file->tensor("timesteps").to(at::kLong);
  const int64_t n = images.size(0);
  if (!prompts.is_array() || static_cast<int64_t>(prompts.size()) != n || images.dim() != 5 || images.size(1) != 2 ||
      labels.numel() != n || timesteps.numel() != n)
    throw InvalidArgument(path + ": not a pair set (images [N, 2, 3, H, W], N labels, timesteps and prompts)");
  std::vector<evaluator::PreferencePair> pairs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto& p = pairs[static_cast<size_t>(i)];
    if (!prompts[static_cast<size_t>(i)].is_string()) throw InvalidArgument(path + ": prompt " + std::to_string(i) + " is not a string");
    p.prompt = prompts[static_cast<size_t>(i)].get<std::string>();
    p.image_0 = images[i][0];
    p.image_1 = images[i][1];
    p.label_0 = labels[i].item<float>();
    p.timestep = timesteps[i].item<int64_t>();
  }
  evaluator::check_pairs(pairs, path);
  return pairs;
}

}  // namespace spo::pretraining

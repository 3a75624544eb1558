#include "pretraining/judged_samples.h"

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "pretraining/world_dataset.h"
#include "runtime/errors.h"
#include "world/judge.h"

namespace spo::pretraining {

JudgedImages sample_and_judge(pipeline::Pipeline& pipe, world::Track track, const std::vector<std::string>& prompts,
                              const SamplingOptions& o, const JobContext& ctx) {
  require(o.batch > 0, "sample and judge: batch must be positive");
  JudgedImages out;
  std::vector<at::Tensor> images;
  const int64_t n = static_cast<int64_t>(prompts.size());
  for (int64_t start = 0, chunk = 0; start < n; start += o.batch, ++chunk) {
    ctx.check_cancelled();
    pipeline::GenerateRequest request;
    request.prompts.assign(prompts.begin() + start, prompts.begin() + std::min(n, start + o.batch));
    request.steps = o.steps;
    request.guidance_scale = o.guidance_scale;
    request.eta = o.eta;
    request.seed = mix_seed(o.seed, 0x5A, static_cast<uint64_t>(chunk));
    auto result = pipe.generate(request);
    for (int64_t i = 0; i < result.images.size(0); ++i) {
      auto image = result.images[i].clamp(-1, 1);
      out.scores.push_back(world::judge_prompt(track, image, request.prompts[i]));
      images.push_back(image);
    }
    ctx.report({"sample", std::min(n, start + o.batch), n, 0.0, {}});
  }
  out.prompts = prompts;
  out.images = at::stack(images);
  return out;
}

double mean_judge(const std::vector<world::Verdict>& scores, const std::string& part) {
  require(!scores.empty(), "mean judge: no scores");
  double sum = 0;
  for (const auto& s : scores) sum += s.part(part);
  return sum / static_cast<double>(scores.size());
}

std::vector<evaluator::PreferencePair> judged_pairs(pipeline::Pipeline& pipe, world::Track track,
                                                    const std::vector<std::string>& prompts,
                                                    const SamplingOptions& o, double tie_margin,
                                                    const JobContext& ctx) {
  auto first = sample_and_judge(pipe, track, prompts, o, ctx);
  SamplingOptions second_options = o;
  second_options.seed = o.seed + 1;
  auto second = sample_and_judge(pipe, track, prompts, second_options, ctx);
  std::vector<evaluator::PreferencePair> pairs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    evaluator::PreferencePair p;
    p.prompt = prompts[i];
    p.image_0 = first.images[static_cast<int64_t>(i)];
    p.image_1 = second.images[static_cast<int64_t>(i)];
    p.label_0 = world::label_probability(world::label_totals(first.scores[i].total, second.scores[i].total, tie_margin));
    pairs.push_back(std::move(p));
  }
  return pairs;
}

JudgedPass sample_pass(pipeline::Pipeline& pipe, world::Track track, const std::vector<std::string>& prompts,
                       const SamplingOptions& o, const JobContext& ctx) {
  auto judged = sample_and_judge(pipe, track, prompts, o, ctx);
  JudgedPass pass{judged.prompts, judged.images.to(at::kFloat).contiguous(), {}};
  for (const auto& v : judged.scores) pass.totals.push_back(v.total);
  return pass;
}

void save_pass(const std::string& path, const JudgedPass& pass) {
  require(pass.images.dim() == 4 && pass.images.size(0) == static_cast<int64_t>(pass.prompts.size()) &&
              pass.totals.size() == pass.prompts.size(),
          "save pass: images [P, 3, S, S], P prompts and P totals are needed");
  nlohmann::json prompts = pass.prompts, totals = pass.totals;
  io::save_safetensors(path, {{"images", pass.images.to(at::kFloat).contiguous()}},
                       {{"prompts", prompts.dump()}, {"totals", totals.dump()}});
}

JudgedPass load_pass(const std::string& path) {
  auto file = io::SafeTensorsFile::open(path);
  auto meta = [&](const char* key) {
    const auto it = file->metadata().find(key);
    if (it == file->metadata().end()) throw InvalidArgument(path + ": no '" + key + "' in the metadata");
    return nlohmann::json::parse(it->second, nullptr, false);
  };
  const auto prompts = meta("prompts"), totals = meta("totals");
  JudgedPass pass;
  pass.images = file->tensor("images").to(at::kFloat).clone();  // owns its memory once the file closes
  if (!prompts.is_array() || !totals.is_array() || pass.images.dim() != 4 ||
      pass.images.size(0) != static_cast<int64_t>(prompts.size()) || totals.size() != prompts.size())
    throw InvalidArgument(path + ": not a judged pass (images [P, 3, S, S], P prompts and totals)");
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (!prompts[i].is_string() || !totals[i].is_number())
      throw InvalidArgument(path + ": prompt or total " + std::to_string(i) + " is not readable");
    pass.prompts.push_back(prompts[i].get<std::string>());
    pass.totals.push_back(totals[i].get<double>());
  }
  return pass;
}

void judge_again(JudgedPass& pass, world::Track track) {
  require(pass.images.dim() == 4 && pass.images.size(0) == static_cast<int64_t>(pass.prompts.size()),
          "judge again: images [P, 3, S, S] for P prompts are needed");
  pass.totals.resize(pass.prompts.size());
  for (size_t i = 0; i < pass.prompts.size(); ++i)
    pass.totals[i] = world::judge_prompt(track, pass.images[static_cast<int64_t>(i)], pass.prompts[i]).total;
}

std::vector<evaluator::PreferencePair> within_prompt_pairs(const std::vector<JudgedPass>& passes, double tie_margin,
                                                           bool keep_ties, PairCounts* counts) {
  require(passes.size() >= 2, "within-prompt pairs: at least two passes are needed");
  for (const auto& pass : passes)
    require(pass.prompts == passes.front().prompts && pass.totals.size() == pass.prompts.size() &&
                pass.images.size(0) == static_cast<int64_t>(pass.prompts.size()),
            "within-prompt pairs: every pass must hold the same prompts, each with an image and a total");
  std::vector<evaluator::PreferencePair> pairs;
  PairCounts c;
  for (size_t i = 0; i < passes.front().prompts.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    for (size_t a = 0; a < passes.size(); ++a) {
      for (size_t b = a + 1; b < passes.size(); ++b) {
        const double label =
            world::label_probability(world::label_totals(passes[a].totals[i], passes[b].totals[i], tie_margin));
        (label == 0.5 ? c.ties : c.decided) += 1;
        if (label == 0.5 && !keep_ties) continue;
        evaluator::PreferencePair p;
        p.prompt = passes[a].prompts[i];
        p.image_0 = passes[a].images[row];
        p.image_1 = passes[b].images[row];
        p.label_0 = label;
        pairs.push_back(std::move(p));
      }
    }
  }
  if (counts) *counts = c;
  return pairs;
}

}  // namespace spo::pretraining

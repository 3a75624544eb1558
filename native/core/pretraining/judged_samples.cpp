#include "pretraining/judged_samples.h"

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

}  // namespace spo::pretraining

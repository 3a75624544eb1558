#include "spo/round_prompts.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ATen.h>

#include "spo/round_seeds.h"

namespace spo::trainer {

int64_t rounds_per_epoch(int64_t prompts, const SpoSettings& s) {
  return (prompts + s.sample_batch_size - 1) / s.sample_batch_size;
}

std::vector<std::string> round_prompts(const std::vector<std::string>& prompts, const SpoSettings& s, int64_t round) {
  const int64_t n = static_cast<int64_t>(prompts.size());
  const int64_t per_epoch = rounds_per_epoch(n, s);
  const int64_t epoch = round / per_epoch;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(s.seed, kEpochOrder, static_cast<uint64_t>(epoch)));
  const auto order = at::randperm(n, gen, at::kLong);
  const int64_t* o = order.data_ptr<int64_t>();
  std::vector<std::string> batch;
  const int64_t start = (round % per_epoch) * s.sample_batch_size;
  for (int64_t i = start; i < std::min(n, start + s.sample_batch_size); ++i) batch.push_back(prompts[size_t(o[i])]);
  return batch;
}

}  // namespace spo::trainer

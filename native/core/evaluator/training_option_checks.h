// The checks every preference-model training run makes of its optimiser
// options (the pixel and the latent model share these fields and bounds).
#pragma once
#include <cmath>

#include "runtime/errors.h"

namespace spo::evaluator {

template <class Options>
void check_optimiser_options(const Options& o) {
  require(o.steps >= 1 && o.steps <= 100'000'000, "train: steps must be in [1, 1e8]");
  require(o.batch_size >= 1 && o.batch_size <= 4096, "train: batchSize must be in [1, 4096]");
  require(std::isfinite(o.learning_rate) && o.learning_rate > 0 && o.learning_rate < 1,
          "train: learningRate must be in (0, 1)");
  require(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "train: weightDecay must be >= 0");
  require(o.warmup_steps >= 0, "train: warmupSteps must be >= 0");
  require(std::isfinite(o.max_grad_norm), "train: maxGradNorm must be finite");
}

}  // namespace spo::evaluator

// A ceiling on the network a config.json may ask for, checked while the config
// is validated, before any parameter is allocated: each field has its own
// bounds, but their product could still ask for terabytes, and building such
// a model would end in the OOM killer rather than an error. Each config
// computes a lower bound of its parameter count from the layers it is sure to
// build; the ceiling is far above any supported model (SDXL's UNet has 2.6e9
// parameters, and its lower bound here is under 1e8).
#pragma once
#include <string>

#include "runtime/errors.h"

namespace spo::models {

constexpr double kMaxModelParameters = 8589934592.0;  // 2^33: 32 GiB of fp32 weights

inline void require_model_size(double parameters_lower_bound, const std::string& what) {
  if (parameters_lower_bound > kMaxModelParameters) {
    throw InvalidArgument(what + ": the configured network has at least " +
                          std::to_string(static_cast<long long>(parameters_lower_bound / 1e6)) +
                          " million parameters, over the limit of " +
                          std::to_string(static_cast<long long>(kMaxModelParameters / 1e6)) + " million");
  }
}

}  // namespace spo::models

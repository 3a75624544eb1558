// The preference model's training loss (docs/method.md §4, as the authors'
// criterion computes it): per pair, the cross-entropy of softmax([s0, s1])
// against the label distribution (tie = [0.5, 0.5], offset by log 0.5 so a
// perfectly tied prediction costs 0), weighted by 1 / (pairs of its prompt)
// normalised over the batch, then summed.
#pragma once
#include <ATen/ATen.h>

namespace spo::evaluator {

// s0, s1: [B] scores; label_0: [B] probability that image 0 is preferred (1, 0
// or 0.5 for a tie); pairs_per_prompt: [B] > 0. Returns a 0-d fp32 tensor.
at::Tensor preference_loss(const at::Tensor& s0, const at::Tensor& s1, const at::Tensor& label_0,
                           const at::Tensor& pairs_per_prompt);

}  // namespace spo::evaluator

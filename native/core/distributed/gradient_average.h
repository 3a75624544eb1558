// Data-parallel gradient averaging: every rank's LoRA gradients summed in one
// flat all-reduce and divided by the world size, so each rank steps the same
// optimizer on the same gradient. One extra element carries "this rank hit a
// NaN/Inf" so that all ranks take the same decision (skip or stop) and none
// is left waiting in a collective.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "distributed/group.h"

namespace spo::distributed {

// Averages the .grad of `params` across the ranks in place (an undefined grad
// counts as zeros and is defined afterwards). Returns true when any rank
// reported `local_fault`; the gradients are then meaningless.
bool average_gradients(Group& group, const std::vector<at::Tensor>& params, bool local_fault);

}  // namespace spo::distributed

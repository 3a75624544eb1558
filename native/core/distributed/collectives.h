// The few collectives data-parallel training needs, over a Group: a sum of
// one flat tensor, a gather of a variable number of rows per rank (counts
// first, then rows padded to the largest rank), and a broadcast. Tensors may
// live anywhere; they travel through the group's device.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "distributed/group.h"

namespace spo::distributed {

// Replaces `values` (any shape, contiguous) by its elementwise sum over the ranks.
void all_reduce_sum_(Group& group, at::Tensor& values, const std::string& what);

// Every rank's row count (the same vector on every rank).
std::vector<int64_t> all_gather_counts(Group& group, int64_t count, const std::string& what);

// Every rank's `rows` (dim 0 may differ between ranks; the trailing shape and
// dtype must not), concatenated in rank order, on CPU. `counts` (optional)
// receives each rank's number of rows.
at::Tensor all_gather_rows(Group& group, const at::Tensor& rows, const std::string& what,
                           std::vector<int64_t>* counts = nullptr);

// Overwrites `values` on every rank with rank `root`'s.
void broadcast_(Group& group, at::Tensor& values, int64_t root, const std::string& what);

}  // namespace spo::distributed

#include "distributed/collectives.h"

#include "runtime/errors.h"

namespace spo::distributed {
namespace {

int64_t bytes_of(const at::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

}  // namespace

void all_reduce_sum_(Group& group, at::Tensor& values, const std::string& what) {
  std::vector<at::Tensor> buf{values.contiguous().to(group.device())};
  group.tally().all_reduce_bytes += bytes_of(buf[0]);
  group.run(what, [&](c10d::Backend& b) { return b.allreduce(buf); });
  values.copy_(buf[0].view(values.sizes()));
}

std::vector<int64_t> all_gather_counts(Group& group, int64_t count, const std::string& what) {
  std::vector<at::Tensor> in{at::full({1}, count, at::kLong).to(group.device())};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int64_t r = 0; r < group.size(); ++r) out[0].push_back(at::empty({1}, in[0].options()));
  group.tally().all_gather_bytes += bytes_of(in[0]);
  group.run(what + " (counts)", [&](c10d::Backend& b) { return b.allgather(out, in); });
  std::vector<int64_t> counts;
  for (const auto& t : out[0]) counts.push_back(t.to(at::kCPU).item<int64_t>());
  return counts;
}

at::Tensor all_gather_rows(Group& group, const at::Tensor& rows, const std::string& what,
                           std::vector<int64_t>* counts_out) {
  require(rows.dim() >= 1, "all_gather_rows: rows need a leading dimension");
  const auto counts = all_gather_counts(group, rows.size(0), what);
  if (counts_out) *counts_out = counts;
  int64_t most = 0;
  for (int64_t c : counts) most = std::max(most, c);
  auto shape = rows.sizes().vec();
  shape[0] = most;
  if (most == 0) {
    shape[0] = 0;
    return at::empty(shape, rows.options().device(at::kCPU));
  }
  // Gloo's allgather wants equal sizes: pad every rank's rows to the largest count.
  auto padded = at::zeros(shape, rows.options().device(group.device()));
  if (rows.size(0) > 0) padded.slice(0, 0, rows.size(0)).copy_(rows);
  std::vector<at::Tensor> in{padded};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int64_t r = 0; r < group.size(); ++r) out[0].push_back(at::empty_like(padded));
  group.tally().all_gather_bytes += bytes_of(padded);
  group.run(what, [&](c10d::Backend& b) { return b.allgather(out, in); });
  std::vector<at::Tensor> parts;
  for (int64_t r = 0; r < group.size(); ++r) parts.push_back(out[0][size_t(r)].slice(0, 0, counts[size_t(r)]));
  return at::cat(parts).to(at::kCPU);
}

void broadcast_(Group& group, at::Tensor& values, int64_t root, const std::string& what) {
  std::vector<at::Tensor> buf{values.contiguous().to(group.device())};
  group.tally().broadcast_bytes += bytes_of(buf[0]);
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  group.run(what, [&](c10d::Backend& b) { return b.broadcast(buf, opts); });
  values.copy_(buf[0].view(values.sizes()));
}

}  // namespace spo::distributed

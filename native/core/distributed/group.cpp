#include "distributed/group.h"

#include <chrono>

#include "distributed/backends.h"
#include "distributed/store.h"
#include "runtime/errors.h"

namespace spo::distributed {

std::shared_ptr<Group> Group::connect(const RendezvousOptions& o, const at::Device& compute_device) {
  require(o.world_size > 1, "distributed: a process group needs world size > 1 (world size 1 runs without one)");
  const bool cuda = compute_device.is_cuda();
  std::string name = o.backend;
  if (name == "auto") name = cuda && nccl_available() ? "nccl" : "gloo";
  require(name != "nccl" || cuda, "distributed: the NCCL backend needs a CUDA device; the model is on " +
                                      compute_device.str());
  std::shared_ptr<Group> g(new Group());
  g->rank_ = o.rank;
  g->size_ = o.world_size;
  g->backend_name_ = name;
  g->timeout_seconds_ = o.timeout_seconds;
  g->device_ = name == "nccl" ? compute_device : at::Device(at::kCPU);
  g->store_ = connect_store(o);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
  try {
    g->backend_ = name == "nccl" ? make_nccl_backend(g->store_, int(o.rank), int(o.world_size), timeout)
                                 : make_gloo_backend(g->store_, int(o.rank), int(o.world_size), timeout);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Internal, "distributed: rank " + std::to_string(o.rank) + " could not create the " + name +
                                         " process group: " + e.what());
  }
  return g;
}

void Group::fail(const std::string& what, const std::string& cause) const {
  throw Error(ErrorCode::Internal, "distributed: rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " +
                                       what + " failed: a peer rank exited, or stalled longer than the " +
                                       std::to_string(int(timeout_seconds_)) + " s timeout (" + cause + ")");
}

void Group::run(const std::string& what,
                const std::function<c10::intrusive_ptr<c10d::Work>(c10d::Backend&)>& start) {
  ++tally_.collectives;
  try {
    auto work = start(*backend_);
    work->wait();
  } catch (const c10::Error& e) {
    fail(what, e.what_without_backtrace());
  } catch (const std::exception& e) {  // gloo's own IoException (a closed connection) lands here
    fail(what, e.what());
  }
}

}  // namespace spo::distributed

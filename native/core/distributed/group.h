// One rank's membership in a data-parallel run: the c10d backend (Gloo or
// NCCL) joined through the rendezvous store, this rank and the world size,
// the device collective buffers live on, and a tally of the bytes exchanged.
// A collective that fails (a peer died, a timeout) becomes spo::Error naming
// this rank and the collective.
#pragma once
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <functional>
#include <memory>
#include <string>

#include "distributed/comm_tally.h"
#include "distributed/rendezvous.h"

namespace spo::distributed {

class Group {
 public:
  // Rendezvous and backend creation for world size > 1 (resolved options).
  // "auto" picks NCCL when `compute_device` is CUDA and this build has NCCL,
  // else Gloo. Collective buffers then live on CPU (Gloo) or that device (NCCL).
  static std::shared_ptr<Group> connect(const RendezvousOptions& resolved, const at::Device& compute_device);

  int64_t rank() const { return rank_; }
  int64_t size() const { return size_; }
  const at::Device& device() const { return device_; }
  const std::string& backend_name() const { return backend_name_; }
  double timeout_seconds() const { return timeout_seconds_; }
  CommTally& tally() { return tally_; }
  const CommTally& tally() const { return tally_; }

  // Starts a collective on the backend and waits for it; `what` names it in errors.
  void run(const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>(c10d::Backend&)>& start);

 private:
  Group() = default;
  [[noreturn]] void fail(const std::string& what, const std::string& cause) const;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  int64_t rank_ = 0, size_ = 1;
  at::Device device_ = at::kCPU;
  std::string backend_name_;
  double timeout_seconds_ = 0;
  CommTally tally_;
};

}  // namespace spo::distributed

// Where and how the ranks of a data-parallel run meet (c10d rendezvous):
// rank, world size, the TCP store's address and port (or a file store's
// path), the backend and the timeout that bounds every wait. Unset fields come
// from the usual torchrun environment: RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT.
#pragma once
#include <cstdint>
#include <string>

namespace spo::distributed {

struct RendezvousOptions {
  int64_t rank = -1;            // -1: $RANK (0 when unset)
  int64_t world_size = -1;      // -1: $WORLD_SIZE (1 when unset)
  std::string master_addr;      // "": $MASTER_ADDR, else 127.0.0.1
  int64_t master_port = 0;      // 0: $MASTER_PORT (required for a TCP rendezvous of more than one rank)
  std::string file_store;       // non-empty: rendezvous through this file (shared file system) instead of TCP
  std::string backend = "auto";  // "gloo", "nccl", or "auto": NCCL on a CUDA device when built with it, else Gloo
  // Bounds the rendezvous and every collective: a rank that dies or hangs
  // surfaces on its peers as an error after at most this long (a closed
  // connection surfaces at once).
  double timeout_seconds = 120.0;
};

// The options with the environment filled in and checked (InvalidArgument
// naming the bad field). World size 1 needs nothing else.
RendezvousOptions resolve_rendezvous(RendezvousOptions options);

}  // namespace spo::distributed

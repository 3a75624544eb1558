// Bytes each rank handed to collectives, by kind: what a data-parallel run
// costs in communication (reported per run; the note extrapolates to GPUs).
#pragma once
#include <cstdint>

namespace spo::distributed {

struct CommTally {
  int64_t collectives = 0;
  int64_t all_reduce_bytes = 0;
  int64_t all_gather_bytes = 0;  // this rank's payload, padded to the largest rank
  int64_t broadcast_bytes = 0;
};

}  // namespace spo::distributed

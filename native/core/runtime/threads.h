#pragma once

namespace spo {

// Sets libtorch's intra-op thread count once per process: to $SPO_NUM_THREADS
// when set, else to the machine's cores. Returns the count in force.
int configure_intra_op_threads();

}  // namespace spo

#pragma once
#include <string>

namespace spo {

struct BuildInfo {
  std::string torch_version;   // libtorch the engine was compiled against
  bool cuda_kernels = false;   // the .cu kernels are linked into this build
  bool cuda_available = false; // a CUDA device is usable right now
  int cuda_devices = 0;
  int intra_op_threads = 0;
};

BuildInfo build_info();

}  // namespace spo

// The dtype names of the safetensors format and which of them the engine reads.
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

namespace spo::io {

struct DtypeInfo {
  const char* name;        // as written in a safetensors header, e.g. "BF16"
  uint64_t element_size;   // bytes per element (0 for sub-byte formats)
  bool readable;           // F32, F16, BF16, I64: the dtypes weights and ids use
  c10::ScalarType scalar_type;  // meaningful only when readable
};

// nullptr for a name the safetensors format does not define.
const DtypeInfo* find_safetensors_dtype(const std::string& name);

// The header name of a readable dtype, or nullptr for any other ScalarType.
const char* safetensors_dtype_name(c10::ScalarType type);

}  // namespace spo::io

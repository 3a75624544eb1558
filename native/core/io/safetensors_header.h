// The header of a safetensors file, parsed from bytes in memory: the one
// place the format's untrusted structure is read. SafeTensorsFile::open maps
// a file and calls this; the fuzz target calls it directly.
#pragma once
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace spo::io {

struct TensorEntry {
  std::string name;
  c10::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
};

struct SafeTensorsLayout {
  std::vector<TensorEntry> entries;  // in header order
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file
};

// `bytes` holds the whole file (`size` bytes). Validates the header fully:
// header length inside the file (and at most 100 MB), valid JSON nested no
// deeper than a header can, no duplicate names, known dtypes, shapes whose
// byte size equals end - begin, offsets inside the data section, no overlaps.
// Throws spo::InvalidArgument (Unsupported for a known but unread dtype)
// naming `path`.
SafeTensorsLayout parse_safetensors_layout(const uint8_t* bytes, size_t size, const std::string& path);

}  // namespace spo::io

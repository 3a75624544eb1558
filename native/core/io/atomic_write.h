// Writing a whole file atomically (temporary file in the same directory,
// fsync, rename, directory fsync): a crash mid-write leaves the old file.
#pragma once
#include <string>

namespace spo::io {

void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace spo::io

// Writing safetensors files atomically: a crash or error mid-write leaves any
// previous file at `path` untouched and no temporary file behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "io/atomic_write.h"
#include "io/safetensors.h"
#include "io/safetensors_dtypes.h"
#include "runtime/errors.h"

namespace spo::io {
namespace {

[[noreturn]] void write_failed(const std::string& path, const std::string& what, int err) {
  const std::string message = "cannot write " + path + ": " + what + ": " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) throw Error(ErrorCode::NotFound, message);
  throw InvalidArgument(message);
}

std::string temp_path_for(const std::string& path) {
  std::random_device entropy;
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%08x%08x", entropy(), entropy());
  return path + ".tmp-" + std::to_string(::getpid()) + "-" + suffix;
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Owns the temporary file until it is renamed into place.
class TempFile {
 public:
  TempFile(const std::string& final_path) : final_path_(final_path), path_(temp_path_for(final_path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) write_failed(final_path_, "cannot create " + path_, errno);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  void write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, std::min<size_t>(size, 1u << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) write_failed(final_path_, "write failed", n < 0 ? errno : EIO);
      p += n;
      size -= static_cast<size_t>(n);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) write_failed(final_path_, "fsync failed", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) write_failed(final_path_, "close failed", errno);
    if (::rename(path_.c_str(), final_path_.c_str()) != 0) write_failed(final_path_, "rename failed", errno);
    committed_ = true;
    // The rename is durable only once the directory entry is on disk.
    const int dir = ::open(parent_dir(final_path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) write_failed(final_path_, "cannot open its directory to fsync", errno);
    const int rc = ::fsync(dir);
    const int err = errno;
    ::close(dir);
    if (rc != 0) write_failed(final_path_, "directory fsync failed", err);
  }

 private:
  std::string final_path_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  require(!path.empty(), "write_file_atomic: the path is empty");
  TempFile file(path);
  file.write(content.data(), content.size());
  file.commit();
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  require(!path.empty(), "save_safetensors: the path is empty");
  std::set<std::string> names;
  std::vector<at::Tensor> cpu_tensors;
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    require(!name.empty(), "save_safetensors " + path + ": a tensor has an empty name");
    require(name != "__metadata__", "save_safetensors " + path + ": '__metadata__' is reserved, not a tensor name");
    require(names.insert(name).second, "save_safetensors " + path + ": tensor name '" + name + "' is given twice");
    require(tensor.defined(), "save_safetensors " + path + ": tensor '" + name + "' is undefined");
    const char* dtype = safetensors_dtype_name(tensor.scalar_type());
    if (!dtype) {
      throw Unsupported("save_safetensors " + path + ": tensor '" + name + "' has dtype " +
                        std::string(c10::toString(tensor.scalar_type())) + "; only F32, F16, BF16 and I64 are written");
    }
    at::Tensor cpu;
    try {
      cpu = tensor.to(at::kCPU).contiguous();
    } catch (const c10::Error& e) {
      throw Error(ErrorCode::Internal, "save_safetensors " + path + ": cannot copy tensor '" + name +
                                           "' to the CPU: " + e.what_without_backtrace());
    }
    const uint64_t bytes = cpu.nbytes();
    header[name] = {{"dtype", dtype}, {"shape", cpu.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu_tensors.push_back(std::move(cpu));
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;

  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a name or value that is not UTF-8
    throw InvalidArgument("save_safetensors " + path + ": " + e.what());
  }
  // Data starts 8-byte aligned, so readers can view every dtype in place.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header_text.size()) >> (8 * i));

  TempFile file(path);
  file.write(length, sizeof length);
  file.write(header_text.data(), header_text.size());
  for (const auto& t : cpu_tensors) file.write(t.data_ptr(), t.nbytes());
  file.commit();
}

}  // namespace spo::io

// Reading safetensors files by memory map. The header is untrusted input:
// parse_safetensors_layout validates it completely before any byte of tensor
// data is viewed.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/errors.h"

namespace spo::io {
namespace {

// Closes the descriptor on every exit path of open().
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw Error(ErrorCode::NotFound, "safetensors file not found: " + path);
    throw InvalidArgument("cannot read safetensors file " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw InvalidArgument("expected a safetensors file but " + path + " is a directory");
  // Checked before open(): opening a FIFO for reading would block.
  if (!S_ISREG(st.st_mode)) throw InvalidArgument("safetensors path " + path + " is not a regular file");
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) throw InvalidArgument("cannot open safetensors file " + path + ": " + std::strerror(errno));
  if (::fstat(fd.fd, &st) != 0) throw InvalidArgument("cannot stat safetensors file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InvalidArgument("safetensors path " + path + " is not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  // Checked before mapping: mmap of an empty file fails with a confusing errno.
  if (file_size < 8) {
    throw InvalidArgument("invalid safetensors file " + path + ": the file has " + std::to_string(file_size) +
                          " bytes, fewer than the 8-byte header length");
  }

  // Owned from here on, so the destructor unmaps if validation throws.
  std::shared_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->path_ = path;
  // Writable private pages: an in-place op on a returned view copies the page
  // instead of faulting; the file itself is never written.
  void* map = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.fd, 0);
  if (map == MAP_FAILED) throw InvalidArgument("cannot map safetensors file " + path + ": " + std::strerror(errno));
  file->map_ = static_cast<const uint8_t*>(map);
  file->map_size_ = file_size;

  SafeTensorsLayout layout = parse_safetensors_layout(file->map_, file_size, path);
  file->data_offset_ = layout.data_offset;
  file->metadata_ = std::move(layout.metadata);
  file->entries_ = std::move(layout.entries);
  for (size_t i = 0; i < file->entries_.size(); ++i) file->index_[file->entries_[i].name] = i;
  file->self_ = file;
  return file;
}

SafeTensorsFile::~SafeTensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

const TensorEntry* SafeTensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

at::Tensor SafeTensorsFile::tensor(const std::string& name) const {
  const TensorEntry* entry = find(name);
  if (!entry) throw Error(ErrorCode::NotFound, "safetensors file " + path_ + " has no tensor '" + name + "'");
  const auto options = at::TensorOptions().dtype(entry->dtype).device(at::kCPU);
  const uint8_t* data = map_ + data_offset_ + entry->begin;
  const size_t bytes = entry->end - entry->begin;
  const size_t element_size = c10::elementSize(entry->dtype);
  if (bytes == 0) return at::empty(entry->shape, options);
  if (reinterpret_cast<uintptr_t>(data) % element_size != 0) {
    // Kernels assume naturally aligned elements; the header length decides alignment.
    at::Tensor copy = at::empty(entry->shape, options);
    std::memcpy(copy.data_ptr(), data, bytes);
    return copy;
  }
  std::shared_ptr<const SafeTensorsFile> keep_mapped = self_.lock();
  return at::from_blob(
      const_cast<uint8_t*>(data), entry->shape, [keep_mapped](void*) {}, options);
}

}  // namespace spo::io

// safetensors files (https://github.com/huggingface/safetensors format):
// read by memory map after validating the whole header, written atomically.
// Readable dtypes: F32, F16, BF16 (weights) and I64 (position ids); any other
// dtype is refused with an error naming it. Nothing here ever runs a pickle.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors_header.h"

namespace spo::io {

class SafeTensorsFile {
 public:
  // Maps `path` and validates its header fully before any tensor is touched:
  // header length inside the file, valid JSON, known dtypes, shapes whose byte
  // size equals end - begin, offsets inside the data section, no overlaps.
  // Throws spo::Error (NotFound / InvalidArgument / Unsupported) naming the file.
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);
  ~SafeTensorsFile();

  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& entries() const { return entries_; }  // in header order
  const TensorEntry* find(const std::string& name) const;               // nullptr when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A CPU tensor in the stored dtype viewing the mapped bytes (copied when the
  // data is misaligned); it keeps the mapping alive. Throws if `name` is absent.
  at::Tensor tensor(const std::string& name) const;

 private:
  SafeTensorsFile() = default;
  std::string path_;
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  size_t data_offset_ = 0;
  std::weak_ptr<SafeTensorsFile> self_;
};

// Writes tensors (any of the readable dtypes, any device: copied to CPU,
// contiguous) and string metadata to `path` atomically: a temporary file in
// the same directory, fsync, rename. A crash mid-write leaves the old file.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Throws spo::Unsupported for pickle-based checkpoints (.bin, .ckpt, .pt,
// .pth, .pkl), with the one-line Python command that converts them.
void refuse_pickle(const std::string& path);

}  // namespace spo::io

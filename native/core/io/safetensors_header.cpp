// The safetensors header is untrusted input: it is validated completely
// (structure, dtypes, sizes, bounds, overlaps) before any byte of tensor data
// is viewed.
#include "io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "io/safetensors_dtypes.h"
#include "runtime/errors.h"

namespace spo::io {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
// A safetensors header nests at most: object > tensor object > shape array > number.
constexpr int kMaxHeaderDepth = 3;

[[noreturn]] void bad_file(const std::string& path, const std::string& problem) {
  throw InvalidArgument("invalid safetensors file " + path + ": " + problem);
}

uint64_t read_le_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses the header, flagging duplicate top-level keys (nlohmann silently keeps
// the last) and nesting deeper than any valid header (bounds parser memory).
OrderedJson parse_header(const std::string& path, const char* begin, const char* end) {
  std::string duplicate;
  bool too_deep = false;
  std::set<std::string> seen;
  OrderedJson::parser_callback_t watch = [&](int depth, OrderedJson::parse_event_t event, OrderedJson& parsed) {
    if (event == OrderedJson::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    if ((event == OrderedJson::parse_event_t::object_start || event == OrderedJson::parse_event_t::array_start) &&
        depth > kMaxHeaderDepth) {
      too_deep = true;
      return false;
    }
    return true;
  };
  OrderedJson header;
  try {
    header = OrderedJson::parse(begin, end, watch);
  } catch (const nlohmann::json::exception& e) {
    bad_file(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (too_deep) bad_file(path, "header nests deeper than a safetensors header can");
  if (!duplicate.empty()) bad_file(path, "tensor '" + duplicate + "' appears twice in the header");
  return header;
}

uint64_t get_unsigned(const std::string& path, const std::string& name, const char* field, const OrderedJson& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  bad_file(path, "tensor '" + name + "': " + field + " entries must be non-negative integers, got " + v.dump());
}

TensorEntry parse_entry(const std::string& path, const std::string& name, const OrderedJson& info,
                        uint64_t data_size) {
  if (name.empty()) bad_file(path, "a tensor has an empty name");
  if (!info.is_object()) bad_file(path, "tensor '" + name + "' is not described by a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(field)) bad_file(path, "tensor '" + name + "' has no " + field);
  }
  const auto& dtype = info["dtype"];
  if (!dtype.is_string()) bad_file(path, "tensor '" + name + "': dtype must be a string, got " + dtype.dump());
  const std::string dtype_name = dtype.get<std::string>();
  const DtypeInfo* known = find_safetensors_dtype(dtype_name);
  if (!known) bad_file(path, "tensor '" + name + "' has unknown dtype '" + dtype_name + "'");
  if (!known->readable) {
    throw Unsupported("safetensors file " + path + ": tensor '" + name + "' has dtype " + dtype_name +
                      ", which the engine does not read (only F32, F16, BF16 and I64)");
  }

  TensorEntry entry;
  entry.name = name;
  entry.dtype = known->scalar_type;
  const auto& shape = info["shape"];
  if (!shape.is_array()) bad_file(path, "tensor '" + name + "': shape must be an array, got " + shape.dump());
  uint64_t numel = 1;
  for (const auto& dim : shape) {
    const uint64_t d = get_unsigned(path, name, "shape", dim);
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(numel, d, &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      bad_file(path, "tensor '" + name + "': shape " + shape.dump() + " has more elements than fit in int64");
    }
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t byte_size = 0;
  if (__builtin_mul_overflow(numel, known->element_size, &byte_size)) {
    bad_file(path, "tensor '" + name + "': shape " + shape.dump() + " is too large");
  }

  const auto& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2) {
    bad_file(path, "tensor '" + name + "': data_offsets must be [begin, end], got " + offsets.dump());
  }
  entry.begin = get_unsigned(path, name, "data_offsets", offsets[0]);
  entry.end = get_unsigned(path, name, "data_offsets", offsets[1]);
  if (entry.begin > entry.end) {
    bad_file(path, "tensor '" + name + "': data_offsets begin " + std::to_string(entry.begin) + " is after end " +
                       std::to_string(entry.end));
  }
  if (entry.end > data_size) {
    bad_file(path, "tensor '" + name + "': data ends at byte " + std::to_string(entry.end) +
                       " but the data section has only " + std::to_string(data_size) +
                       " bytes (is the file truncated?)");
  }
  if (entry.end - entry.begin != byte_size) {
    bad_file(path, "tensor '" + name + "': shape " + shape.dump() + " of " + dtype_name + " needs " +
                       std::to_string(byte_size) + " bytes but data_offsets span " +
                       std::to_string(entry.end - entry.begin));
  }
  return entry;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const OrderedJson& meta) {
  if (!meta.is_object()) bad_file(path, "__metadata__ must be an object, got " + meta.dump());
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string()) bad_file(path, "__metadata__ value of '" + key + "' must be a string, got " + value.dump());
    out[key] = value.get<std::string>();
  }
  return out;
}

void check_no_overlap(const std::string& path, const std::vector<TensorEntry>& entries) {
  std::vector<const TensorEntry*> by_begin;
  for (const auto& e : entries) {
    if (e.end > e.begin) by_begin.push_back(&e);  // empty tensors own no bytes
  }
  std::sort(by_begin.begin(), by_begin.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    if (by_begin[i]->begin < by_begin[i - 1]->end) {
      bad_file(path, "tensors '" + by_begin[i - 1]->name + "' and '" + by_begin[i]->name + "' overlap in the data");
    }
  }
}

}  // namespace

SafeTensorsLayout parse_safetensors_layout(const uint8_t* bytes, size_t size, const std::string& path) {
  const uint64_t file_size = size;
  if (file_size < 8) {
    bad_file(path, "the file has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  }
  const uint64_t header_size = read_le_u64(bytes);
  if (header_size > file_size - 8) {
    bad_file(path, "header length " + std::to_string(header_size) + " exceeds the " + std::to_string(file_size - 8) +
                       " bytes after it");
  }
  if (header_size > kMaxHeaderBytes) bad_file(path, "header length " + std::to_string(header_size) + " is over 100 MB");
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  const OrderedJson header = parse_header(path, header_begin, header_begin + header_size);
  if (!header.is_object()) bad_file(path, "header must be a JSON object");

  SafeTensorsLayout layout;
  layout.data_offset = 8 + header_size;
  const uint64_t data_size = file_size - layout.data_offset;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      layout.metadata = parse_metadata(path, info);
      continue;
    }
    layout.entries.push_back(parse_entry(path, name, info, data_size));
  }
  check_no_overlap(path, layout.entries);
  return layout;
}

}  // namespace spo::io

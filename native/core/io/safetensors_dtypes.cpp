#include "io/safetensors_dtypes.h"

namespace spo::io {
namespace {

using c10::ScalarType;

// Every dtype of the format, so that a valid but unread dtype gets
// "unsupported" rather than "unknown" (Undefined marks the unread ones).
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, true, ScalarType::Float},      {"F16", 2, true, ScalarType::Half},
    {"BF16", 2, true, ScalarType::BFloat16},  {"I64", 8, true, ScalarType::Long},
    {"F64", 8, false, ScalarType::Undefined}, {"I32", 4, false, ScalarType::Undefined},
    {"I16", 2, false, ScalarType::Undefined}, {"I8", 1, false, ScalarType::Undefined},
    {"U64", 8, false, ScalarType::Undefined}, {"U32", 4, false, ScalarType::Undefined},
    {"U16", 2, false, ScalarType::Undefined}, {"U8", 1, false, ScalarType::Undefined},
    {"BOOL", 1, false, ScalarType::Undefined}, {"C64", 8, false, ScalarType::Undefined},
    {"F8_E4M3", 1, false, ScalarType::Undefined}, {"F8_E5M2", 1, false, ScalarType::Undefined},
    {"F8_E8M0", 1, false, ScalarType::Undefined}, {"F6_E2M3", 0, false, ScalarType::Undefined},
    {"F6_E3M2", 0, false, ScalarType::Undefined}, {"F4", 0, false, ScalarType::Undefined},
};

}  // namespace

const DtypeInfo* find_safetensors_dtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const char* safetensors_dtype_name(c10::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (d.readable && d.scalar_type == type) return d.name;
  }
  return nullptr;
}

}  // namespace spo::io

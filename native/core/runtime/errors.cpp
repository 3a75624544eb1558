#include "runtime/errors.h"

namespace spo {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "ERR_SPO_INVALID_ARGUMENT";
    case ErrorCode::Cancelled: return "ABORT_ERR";
    case ErrorCode::NotFound: return "ERR_SPO_NOT_FOUND";
    case ErrorCode::Unsupported: return "ERR_SPO_UNSUPPORTED";
    case ErrorCode::Internal: return "ERR_SPO_INTERNAL";
    case ErrorCode::NumericFault: return "ERR_SPO_NUMERIC";
  }
  return "ERR_SPO_INTERNAL";
}

}  // namespace spo

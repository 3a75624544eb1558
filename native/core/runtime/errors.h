// Typed engine errors. The addon maps each code to a JavaScript error class;
// anything else thrown (c10::Error, std::bad_alloc) gets a code of its own there.
#pragma once
#include <stdexcept>
#include <string>

namespace spo {

enum class ErrorCode {
  InvalidArgument,  // a caller passed something the engine cannot use
  Cancelled,        // the job's cancel flag was seen between steps
  NotFound,         // a file or key that should exist does not
  Unsupported,      // valid input the engine does not handle (yet)
  Internal,         // a broken invariant inside the engine
  NumericFault,     // a NaN or Inf in a loss, gradient or latent stopped the computation
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

struct InvalidArgument : Error {
  explicit InvalidArgument(const std::string& m) : Error(ErrorCode::InvalidArgument, m) {}
};
struct Cancelled : Error {
  Cancelled() : Error(ErrorCode::Cancelled, "the operation was aborted") {}
};
struct NumericFault : Error {
  explicit NumericFault(const std::string& m) : Error(ErrorCode::NumericFault, m) {}
};
struct Unsupported : Error {
  explicit Unsupported(const std::string& m) : Error(ErrorCode::Unsupported, m) {}
};

// Throws InvalidArgument with `message` unless `ok`.
inline void require(bool ok, const std::string& message) {
  if (!ok) throw InvalidArgument(message);
}

}  // namespace spo

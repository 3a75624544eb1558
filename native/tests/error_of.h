// A test's view of a refusal: the message of the spo::Error a call throws, or
// "" when it returns. For tests that check what a refusal says.
#pragma once
#include <functional>
#include <string>

#include "runtime/errors.h"

namespace spo::test_util {

inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace spo::test_util

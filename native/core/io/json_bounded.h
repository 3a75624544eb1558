// Parsing JSON from strangers with its nesting bounded. nlohmann's parser is
// iterative, but walking the result is not: dump() (quoted in error messages),
// operator== and copies recurse once per level, so a line of 200,000 '['
// overflows the stack and kills the process. Header-only, so that areas which
// do not link spo_io (text/) can use it too.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "runtime/errors.h"

namespace spo::io {

// No file the engine reads nests deeper than a few levels.
constexpr int kMaxJsonDepth = 64;

// Any JSON value. Bad JSON throws nlohmann's exceptions exactly as Json::parse
// does (callers keep their own messages for those); nesting deeper than
// `max_depth` throws spo::InvalidArgument "<what>: JSON nested deeper than N levels".
inline nlohmann::json parse_json_bounded(const std::string& text, const std::string& what,
                                         int max_depth = kMaxJsonDepth) {
  bool too_deep = false;
  nlohmann::json json = nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_depth) too_deep = true;
    return !too_deep;  // discards the rest: nothing deep is ever built
  });
  if (too_deep) throw InvalidArgument(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
  return json;
}

}  // namespace spo::io

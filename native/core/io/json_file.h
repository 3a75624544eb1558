// Reading JSON configuration files with errors that name the file and the
// problem (missing file, syntax error with its position, wrong field type).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace spo::io {

using Json = nlohmann::json;

Json read_json(const std::string& path);  // throws spo::Error NotFound / InvalidArgument

// The same checks on text already in memory (`what` names its source in
// messages): valid JSON, nested at most 64 levels, an object at the top.
Json parse_json_object(const std::string& text, const std::string& what);

// Typed field access: `what` names the file or object in messages. A missing
// or null field gives `fallback`; a present one of the wrong type or out of
// [lo, hi] throws spo::InvalidArgument. The list getters have no fallback.
int64_t json_int(const Json& j, const char* key, int64_t fallback, const std::string& what, int64_t lo, int64_t hi);
double json_number(const Json& j, const char* key, double fallback, const std::string& what);
bool json_bool(const Json& j, const char* key, bool fallback, const std::string& what);
std::string json_string(const Json& j, const char* key, const std::string& fallback, const std::string& what);
std::vector<int64_t> json_int_list(const Json& j, const char* key, const std::string& what, int64_t lo, int64_t hi);
std::vector<std::string> json_string_list(const Json& j, const char* key, const std::string& what);
bool json_has(const Json& j, const char* key);  // present and not null

}  // namespace spo::io

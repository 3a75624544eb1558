// JSON configuration files: every failure names the file, the field, what was
// expected and what was found, so a broken config is fixable from the message.
#include "io/json_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/json_bounded.h"
#include "runtime/errors.h"

namespace spo::io {
namespace {

// Far above any config (CLIP's vocab.json, the largest JSON a model ships, is ~1 MB).
constexpr uint64_t kMaxJsonFileBytes = 64ull << 20;

// The offending value as JSON, shortened: it is quoted in a one-line message.
std::string shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

[[noreturn]] void wrong_field(const std::string& what, const char* key, const std::string& expected, const Json& got) {
  throw InvalidArgument(what + ": " + key + " must be " + expected + ", got " + shown(got));
}

std::string range_text(int64_t lo, int64_t hi) {
  std::string text = "[";  // appended piecewise: GCC 12 warns falsely on "[" + std::to_string(...)
  text += std::to_string(lo);
  text += ", ";
  text += std::to_string(hi);
  return text + "]";
}

// An integral JSON number (a float with an integral value included) in [lo, hi].
bool as_int_in_range(const Json& v, int64_t lo, int64_t hi, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi)) return false;
    *out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    // |d| < 2^62 keeps the cast defined; no config value is anywhere near it.
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) >= 0x1p62) return false;
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
      return false;
    }
    *out = static_cast<int64_t>(d);
  } else {
    return false;
  }
  return *out >= lo && *out <= hi;
}

}  // namespace

Json read_json(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw Error(ErrorCode::NotFound, "JSON file not found: " + path);
    throw InvalidArgument("cannot read JSON file " + path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) throw InvalidArgument("expected a JSON file but " + path + " is a directory");
  if (!S_ISREG(st.st_mode)) throw InvalidArgument("JSON path " + path + " is not a regular file");
  // Checked before reading: a config from a stranger must not exhaust memory.
  if (static_cast<uint64_t>(st.st_size) > kMaxJsonFileBytes) {
    throw InvalidArgument("JSON file " + path + " has " + std::to_string(st.st_size) + " bytes, over the limit of " +
                          std::to_string(kMaxJsonFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument("cannot open JSON file " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InvalidArgument("cannot read JSON file " + path);
  return parse_json_object(text.str(), path);
}

Json parse_json_object(const std::string& text, const std::string& what) {
  Json json;
  try {
    json = parse_json_bounded(text, what);
  } catch (const Json::parse_error& e) {
    throw InvalidArgument(what + ": invalid JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const Json::exception& e) {
    throw InvalidArgument(what + ": invalid JSON: " + e.what());
  }
  if (!json.is_object()) throw InvalidArgument(what + ": expected a JSON object at the top level, got " + shown(json));
  return json;
}

bool json_has(const Json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}

int64_t json_int(const Json& j, const char* key, int64_t fallback, const std::string& what, int64_t lo, int64_t hi) {
  if (!json_has(j, key)) return fallback;
  int64_t value = 0;
  if (!as_int_in_range(j[key], lo, hi, &value)) wrong_field(what, key, "an integer in " + range_text(lo, hi), j[key]);
  return value;
}

double json_number(const Json& j, const char* key, double fallback, const std::string& what) {
  if (!json_has(j, key)) return fallback;
  if (!j[key].is_number()) wrong_field(what, key, "a number", j[key]);
  return j[key].get<double>();
}

bool json_bool(const Json& j, const char* key, bool fallback, const std::string& what) {
  if (!json_has(j, key)) return fallback;
  if (!j[key].is_boolean()) wrong_field(what, key, "true or false", j[key]);
  return j[key].get<bool>();
}

std::string json_string(const Json& j, const char* key, const std::string& fallback, const std::string& what) {
  if (!json_has(j, key)) return fallback;
  if (!j[key].is_string()) wrong_field(what, key, "a string", j[key]);
  return j[key].get<std::string>();
}

std::vector<int64_t> json_int_list(const Json& j, const char* key, const std::string& what, int64_t lo, int64_t hi) {
  const std::string expected = "an integer in " + range_text(lo, hi) + " or a non-empty list of them";
  if (!json_has(j, key)) throw InvalidArgument(what + ": " + key + " is missing; it must be " + expected);
  const Json& v = j[key];
  std::vector<int64_t> out;
  int64_t item = 0;
  if (v.is_array()) {
    if (v.empty()) wrong_field(what, key, expected, v);
    for (const auto& element : v) {
      if (!as_int_in_range(element, lo, hi, &item)) wrong_field(what, key, expected, v);
      out.push_back(item);
    }
  } else {
    // diffusers configs write a per-block value either once or per block.
    if (!as_int_in_range(v, lo, hi, &item)) wrong_field(what, key, expected, v);
    out.push_back(item);
  }
  return out;
}

std::vector<std::string> json_string_list(const Json& j, const char* key, const std::string& what) {
  if (!json_has(j, key)) throw InvalidArgument(what + ": " + key + " is missing; it must be a list of strings");
  const Json& v = j[key];
  if (!v.is_array()) wrong_field(what, key, "a list of strings", v);
  std::vector<std::string> out;
  for (const auto& element : v) {
    if (!element.is_string()) wrong_field(what, key, "a list of strings", v);
    out.push_back(element.get<std::string>());
  }
  return out;
}

}  // namespace spo::io

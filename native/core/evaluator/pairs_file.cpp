#include "evaluator/pairs_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/json_bounded.h"
#include "runtime/errors.h"

namespace spo::evaluator {
namespace {

constexpr size_t kMaxLine = size_t(1) << 20;
constexpr size_t kMaxPairs = 10'000'000;
constexpr int64_t kMaxFile = int64_t(1) << 30;

std::string field_string(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) throw InvalidArgument(where + ": field '" + key + "' is missing");
  if (!it->is_string()) throw InvalidArgument(where + ": field '" + key + "' must be a string, got " + it->dump());
  return it->get<std::string>();
}

double parse_label(const nlohmann::json& j, const std::string& where) {
  auto it = j.find("label");
  if (it == j.end()) throw InvalidArgument(where + ": field 'label' is missing (0, 1 or \"tie\")");
  if (it->is_string() && it->get<std::string>() == "tie") return 0.5;
  if (it->is_number_integer()) {
    const auto v = it->get<int64_t>();
    if (v == 0) return 1.0;  // image 0 preferred
    if (v == 1) return 0.0;
  }
  throw InvalidArgument(where + ": field 'label' must be 0 (image_0 preferred), 1 (image_1) or \"tie\", got " +
                        it->dump());
}

std::string resolve(const std::string& base_dir, const std::string& p, const std::string& where, const char* key) {
  if (p.empty()) throw InvalidArgument(where + ": field '" + key + "' is an empty path");
  if (p.find('\0') != std::string::npos) throw InvalidArgument(where + ": field '" + key + "' holds a NUL byte");
  const std::filesystem::path path(p);
  return (path.is_absolute() || base_dir.empty() ? path : std::filesystem::path(base_dir) / path).string();
}

}  // namespace

std::vector<PairRecord> parse_pairs_jsonl(const std::string& content, const std::string& base_dir,
                                          const std::string& what) {
  std::vector<PairRecord> pairs;
  size_t start = 0;
  int64_t line_no = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    ++line_no;
    std::string line = content.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = what + " line " + std::to_string(line_no);
    if (line.size() > kMaxLine) throw InvalidArgument(where + ": the line is longer than 1 MiB");
    if (pairs.size() >= kMaxPairs) throw InvalidArgument(what + ": more than 10^7 pairs");
    nlohmann::json j;
    try {
      j = io::parse_json_bounded(line, where);  // bounded: a value is quoted by dump() below
    } catch (const nlohmann::json::exception& e) {
      throw InvalidArgument(where + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw InvalidArgument(where + ": expected a JSON object, got " + std::string(j.type_name()));
    PairRecord r;
    r.line = line_no;
    r.prompt = field_string(j, "prompt", where);
    r.image_0 = resolve(base_dir, field_string(j, "image_0", where), where, "image_0");
    r.image_1 = resolve(base_dir, field_string(j, "image_1", where), where, "image_1");
    r.label_0 = parse_label(j, where);
    pairs.push_back(std::move(r));
  }
  if (pairs.empty()) throw InvalidArgument(what + ": holds no pairs");
  return pairs;
}

std::vector<PairRecord> read_pairs_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw Error(ErrorCode::NotFound, "pairs file " + path + " does not exist");
  if (!S_ISREG(st.st_mode)) throw InvalidArgument("pairs file " + path + " is not a regular file");
  if (st.st_size > kMaxFile) throw InvalidArgument("pairs file " + path + " is larger than 1 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, "cannot open the pairs file " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return parse_pairs_jsonl(content.str(), std::filesystem::path(path).parent_path().string(), path);
}

}  // namespace spo::evaluator

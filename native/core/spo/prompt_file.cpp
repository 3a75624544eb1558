#include "spo/prompt_file.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/json_bounded.h"
#include "runtime/errors.h"

namespace spo::trainer {
namespace {

constexpr size_t kMaxPrompts = 10'000'000;
constexpr size_t kMaxPrompt = 64 * 1024;

void add(std::vector<std::string>& out, std::string prompt, const std::string& where) {
  require(prompt.size() <= kMaxPrompt, where + ": the prompt is longer than 64 KiB");
  require(out.size() < kMaxPrompts, where + ": more than 10^7 prompts");
  out.push_back(std::move(prompt));
}

}  // namespace

std::vector<std::string> parse_prompts(const std::string& content, const std::string& what) {
  std::vector<std::string> out;
  const auto first = content.find_first_not_of(" \t\r\n\xef\xbb\xbf");
  if (first != std::string::npos && content[first] == '[') {
    nlohmann::json j;
    try {
      j = io::parse_json_bounded(content, what);  // bounded: a bad record is quoted by dump() below
    } catch (const nlohmann::json::exception& e) {
      throw InvalidArgument(what + ": not valid JSON: " + e.what());
    }
    for (size_t i = 0; i < j.size(); ++i) {
      const std::string where = what + " record " + std::to_string(i);
      const auto& r = j[i];
      if (r.is_string()) {
        add(out, r.get<std::string>(), where);
      } else if (r.is_object() && r.contains("caption") && r["caption"].is_string()) {
        add(out, r["caption"].get<std::string>(), where);
      } else {
        throw InvalidArgument(where + ": expected a string or an object with a string 'caption', got " +
                              r.dump().substr(0, 80));
      }
    }
  } else {
    size_t start = 0;
    int64_t line = 0;
    while (start < content.size()) {
      size_t end = content.find('\n', start);
      if (end == std::string::npos) end = content.size();
      ++line;
      std::string text = content.substr(start, end - start);
      start = end + 1;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      const auto a = text.find_first_not_of(" \t"), b = text.find_last_not_of(" \t");
      if (a == std::string::npos) continue;
      add(out, text.substr(a, b - a + 1), what + " line " + std::to_string(line));
    }
  }
  require(!out.empty(), what + ": holds no prompts");
  return out;
}

std::vector<std::string> read_prompt_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw Error(ErrorCode::NotFound, "prompt file " + path + " does not exist");
  require(S_ISREG(st.st_mode), "prompt file " + path + " is not a regular file");
  require(st.st_size <= (int64_t(1) << 30), "prompt file " + path + " is larger than 1 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, "cannot open the prompt file " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return parse_prompts(content.str(), path);
}

}  // namespace spo::trainer

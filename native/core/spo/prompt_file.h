// Training prompts from a file: either the SPO authors' JSON (an array of
// {"caption": ...} records, or of plain strings), or text with one prompt per
// line (blank lines skipped). Errors name the file and the record or line.
#pragma once
#include <string>
#include <vector>

namespace spo::trainer {

// `content` as read from `what` (used in messages). Limits: 10^7 prompts, 64 KiB per prompt.
std::vector<std::string> parse_prompts(const std::string& content, const std::string& what);

// Reads and parses `path` (at most 1 GiB).
std::vector<std::string> read_prompt_file(const std::string& path);

}  // namespace spo::trainer

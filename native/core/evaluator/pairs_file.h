// The on-disk preference pairs format: JSON Lines, one pair per line,
//   {"prompt": "a red circle", "image_0": "a.png", "image_1": "b.png", "label": 0}
// label 0: image_0 is preferred; 1: image_1 is preferred; "tie": neither.
// Image paths are relative to the file's directory (or absolute). Blank lines
// are skipped; any other problem is an InvalidArgument naming file and line.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace spo::evaluator {

struct PairRecord {
  std::string prompt;
  std::string image_0, image_1;  // resolved paths
  double label_0 = 0.5;          // probability image 0 is preferred: 1, 0 or 0.5 (tie)
  int64_t line = 0;              // 1-based line in the file
};

// `content` is the file's text; `base_dir` resolves relative image paths;
// `what` names the source in messages. Limits: 1 MiB per line, 10^7 pairs.
std::vector<PairRecord> parse_pairs_jsonl(const std::string& content, const std::string& base_dir,
                                          const std::string& what);

// Reads and parses `path` (at most 1 GiB).
std::vector<PairRecord> read_pairs_file(const std::string& path);

}  // namespace spo::evaluator

// A directory of training checkpoints that survives a crash at any moment:
// each checkpoint is written into its own fresh sub-directory (step-NNNNNNNNN),
// every file atomically, and only then does the `latest` file (written
// atomically) point at it. A half-written checkpoint is never `latest`; older
// ones are pruned after the new one is committed (the newest `keep` stay).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace spo::training {

class CheckpointDir {
 public:
  explicit CheckpointDir(std::string root, int keep = 2);

  // A fresh, empty directory for the checkpoint of `step` (a leftover of a crashed attempt is removed).
  std::string begin(int64_t step) const;
  // Points `latest` at step's directory, then prunes older checkpoints.
  void commit(int64_t step) const;
  // The committed checkpoint `latest` names: {step, directory}; none when absent.
  std::optional<std::pair<int64_t, std::string>> latest() const;

  const std::string& root() const { return root_; }

 private:
  std::string path_of(int64_t step) const;
  std::string root_;
  int keep_;
};

}  // namespace spo::training

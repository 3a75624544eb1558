#include "training/checkpoint_dir.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "io/atomic_write.h"
#include "runtime/errors.h"

namespace spo::training {

namespace fs = std::filesystem;

CheckpointDir::CheckpointDir(std::string root, int keep) : root_(std::move(root)), keep_(std::max(1, keep)) {
  require(!root_.empty(), "checkpoint directory: the path is empty");
}

std::string CheckpointDir::path_of(int64_t step) const {
  char name[32];
  std::snprintf(name, sizeof name, "step-%09lld", static_cast<long long>(step));
  return (fs::path(root_) / name).string();
}

std::string CheckpointDir::begin(int64_t step) const {
  const std::string dir = path_of(step);
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw InvalidArgument("cannot create the checkpoint directory " + root_ + ": " + ec.message());
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) throw InvalidArgument("cannot create " + dir + ": " + ec.message());
  return dir;
}

void CheckpointDir::commit(int64_t step) const {
  io::write_file_atomic((fs::path(root_) / "latest").string(), fs::path(path_of(step)).filename().string() + "\n");
  std::vector<std::string> older;
  std::error_code ec;
  std::vector<fs::path> stale_temporaries;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && entry.path().string() != path_of(step))
      older.push_back(entry.path().string());
    // A process killed while writing `latest` leaves its temporary file; ours is renamed by now.
    if (name.rfind("latest.tmp-", 0) == 0) stale_temporaries.push_back(entry.path());
  }
  for (const auto& path : stale_temporaries) fs::remove(path, ec);
  std::sort(older.begin(), older.end());
  const size_t keep_older = static_cast<size_t>(keep_ - 1);
  for (size_t i = 0; i + keep_older < older.size(); ++i) fs::remove_all(older[i], ec);
}

std::optional<std::pair<int64_t, std::string>> CheckpointDir::latest() const {
  std::ifstream in(fs::path(root_) / "latest");
  if (!in) return std::nullopt;
  std::string name;
  std::getline(in, name);
  long long step = -1;
  char tail = 0;
  if (std::sscanf(name.c_str(), "step-%lld%c", &step, &tail) != 1 || step < 0 || name != fs::path(path_of(step)).filename().string())
    throw InvalidArgument(root_ + "/latest does not name a checkpoint (got \"" + name + "\")");
  const std::string dir = path_of(step);
  if (!fs::is_directory(dir)) throw InvalidArgument(root_ + "/latest names " + dir + ", which does not exist");
  return std::make_pair(static_cast<int64_t>(step), dir);
}

}  // namespace spo::training

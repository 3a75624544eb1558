// Corrupted checkpoints (issue 8): every truncation and every single-bit flip
// of each file of a committed LoRA checkpoint, loaded by the trainer's resume
// path. Each load must either throw a typed spo::Error or restore a state;
// a restored state may differ from the saved one only when the flipped bit is
// in tensor data (the format has no checksums, so nothing can notice that),
// and never after a truncation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/safetensors_header.h"
#include "runtime/errors.h"
#include "spo/lora_checkpoint.h"

namespace {

namespace fs = std::filesystem;
using spo::training::NamedParameters;

const nlohmann::json kIdentity = {{"test", "checkpoint_corruption"}};
constexpr int64_t kCounter = 3;

NamedParameters make_params() { return {{"blk.lora.down", at::zeros({2, 8})}, {"blk.lora.up", at::zeros({8, 2})}}; }

std::unique_ptr<torch::optim::AdamW> make_optimizer(const NamedParameters& params) {
  std::vector<at::Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  return std::make_unique<torch::optim::AdamW>(tensors, torch::optim::AdamWOptions(1e-3));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

enum class Outcome { TypedError, SameState, OtherState };

struct Loaded {
  Outcome outcome;
  std::string message;
};

class CorruptedCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("spo-corrupt-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    const NamedParameters params = make_params();
    auto optimizer = make_optimizer(params);
    // One real AdamW step, so the optimizer file holds real state.
    for (auto& [name, p] : params) {
      p.uniform_(-1, 1);
      p.mutable_grad() = at::ones_like(p);
    }
    optimizer->step();
    spo::trainer::save_checkpoint(dir(), kCounter, params, *optimizer, kIdentity);
    saved_ = load_state();
  }
  void TearDown() override { fs::remove_all(root_); }

  spo::training::CheckpointDir dir() const { return spo::training::CheckpointDir(root_.string(), 2); }

  // Every tensor the checkpoint restores, flattened in a fixed order.
  std::vector<at::Tensor> load_state() const {
    const NamedParameters params = make_params();
    auto optimizer = make_optimizer(params);
    const int64_t counter = spo::trainer::load_checkpoint(dir(), params, *optimizer, kIdentity);
    std::vector<at::Tensor> state = {at::tensor({counter})};
    for (const auto& [name, p] : params) {
      state.push_back(p.clone());
      auto it = optimizer->state().find(p.unsafeGetTensorImpl());
      if (it == optimizer->state().end()) continue;
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      state.insert(state.end(), {at::tensor({s.step()}), s.exp_avg(), s.exp_avg_sq()});
    }
    return state;
  }

  Loaded try_load() const {
    try {
      const auto state = load_state();
      bool same = state.size() == saved_.size();
      for (size_t i = 0; same && i < state.size(); ++i) same = at::equal(state[i], saved_[i]);
      return {same ? Outcome::SameState : Outcome::OtherState, ""};
    } catch (const spo::Error& e) {
      return {Outcome::TypedError, e.what()};
    }
    // Any other exception escapes and fails the test.
  }

  fs::path root_;
  std::vector<at::Tensor> saved_;
};

// The checkpoint's files: `latest` and the three files of the step directory.
std::vector<fs::path> checkpoint_files(const fs::path& root) {
  const fs::path step = root / "step-000000003";
  return {root / "latest", step / "trainer_state.json", step / "lora.safetensors", step / "optimizer.safetensors"};
}

// Where tensor data starts in a safetensors file (its size for anything else).
size_t data_offset(const fs::path& path, const std::string& bytes) {
  if (path.extension() != ".safetensors") return bytes.size();
  return spo::io::parse_safetensors_layout(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path.string())
      .data_offset;
}

bool only_trailing_whitespace_cut(const std::string& original, size_t kept) {
  return original.find_first_not_of(" \n", kept) == std::string::npos;
}

TEST_F(CorruptedCheckpoint, EveryTruncationIsATypedErrorOrTheSameState) {
  int cases = 0, errors = 0;
  for (const fs::path& file : checkpoint_files(root_)) {
    const std::string original = read_bytes(file);
    ASSERT_FALSE(original.empty()) << file;
    for (size_t kept = 0; kept < original.size(); ++kept) {
      write_bytes(file, original.substr(0, kept));
      const Loaded loaded = try_load();
      ++cases;
      errors += loaded.outcome == Outcome::TypedError;
      if (only_trailing_whitespace_cut(original, kept)) {
        EXPECT_EQ(loaded.outcome, Outcome::SameState) << file << " cut to " << kept << ": " << loaded.message;
      } else {
        EXPECT_EQ(loaded.outcome, Outcome::TypedError) << file << " cut to " << kept << " bytes loaded";
      }
    }
    write_bytes(file, original);
  }
  std::printf("truncated checkpoints: %d cases, %d typed errors\n", cases, errors);
  // The file deleted outright: a missing file is an error too.
  for (const fs::path& file : checkpoint_files(root_)) {
    if (file.filename() == "latest") continue;  // no `latest`: no checkpoint, a fresh start
    const std::string original = read_bytes(file);
    fs::remove(file);
    EXPECT_EQ(try_load().outcome, Outcome::TypedError) << file << " missing";
    write_bytes(file, original);
  }
}

TEST_F(CorruptedCheckpoint, EveryBitFlipIsATypedErrorOrChangesOnlyTensorData) {
  int cases = 0, errors = 0, same = 0, other = 0;
  for (const fs::path& file : checkpoint_files(root_)) {
    const std::string original = read_bytes(file);
    const size_t data_begin = data_offset(file, original);
    for (size_t pos = 0; pos < original.size(); ++pos) {
      for (int bit : {0, 5, 7}) {  // low, case (0x20) and high bits
        std::string flipped = original;
        flipped[pos] = static_cast<char>(flipped[pos] ^ (1 << bit));
        write_bytes(file, flipped);
        const Loaded loaded = try_load();
        ++cases;
        errors += loaded.outcome == Outcome::TypedError;
        same += loaded.outcome == Outcome::SameState;
        other += loaded.outcome == Outcome::OtherState;
        if (loaded.outcome == Outcome::OtherState) {
          EXPECT_GE(pos, data_begin) << file << ": flipping bit " << bit << " of byte " << pos
                                     << " (outside tensor data) loaded a different state";
        }
      }
    }
    write_bytes(file, original);
  }
  std::printf("bit-flipped checkpoints: %d cases, %d typed errors, %d same state, %d different tensor data\n", cases,
              errors, same, other);
}

}  // namespace

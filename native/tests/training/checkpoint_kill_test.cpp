// Crash safety of training checkpoints (issue 8): a child process writes LoRA
// checkpoints in a loop through the trainer's own code (spo::trainer::
// save_checkpoint: safetensors + AdamW state + trainer_state.json, committed
// by training::CheckpointDir) and is killed with SIGKILL at a random moment.
// The parent then loads `latest` and proves it is complete and bit-for-bit one
// of the states the child committed, at least as new as the last commit the
// child reported. The next child resumes from it, so leftovers of every
// killed write are in the directory the following trials use.
//   SPO_KILL_TRIALS (default 200, ~20 s): trials; SPO_KILL_SEED: the random schedule.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "spo/lora_checkpoint.h"

namespace {

namespace fs = std::filesystem;
using spo::training::NamedParameters;

const nlohmann::json kIdentity = {{"test", "checkpoint_kill"}, {"prompts", 5}};

// Parameters large enough (2 x 128 KiB) that writes take a while and kills
// land inside them.
NamedParameters make_params() {
  return {{"unet.down.lora.down", at::zeros({64, 512})}, {"unet.down.lora.up", at::zeros({512, 64})}};
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(const NamedParameters& params) {
  std::vector<at::Tensor> tensors;
  for (const auto& [name, p] : params) tensors.push_back(p);
  return std::make_unique<torch::optim::AdamW>(tensors, torch::optim::AdamWOptions(1e-3));
}

// The state of checkpoint `counter`: every value a function of the counter.
at::Tensor expected_param(int64_t counter, size_t index, at::IntArrayRef shape) {
  return at::arange(c10::multiply_integers(shape), at::kFloat).mul(1e-4).add(double(counter) + 10.0 * double(index)).view(shape);
}

void set_state(int64_t counter, const NamedParameters& params, torch::optim::AdamW& optimizer) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i].second;
    p.copy_(expected_param(counter, i, p.sizes()));
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(counter);
    s->exp_avg(p.mul(0.5));
    s->exp_avg_sq(p.mul(p));
    optimizer.state()[p.unsafeGetTensorImpl()] = std::move(s);
  }
}

// Empty when `params` and the optimizer hold exactly the state of `counter`.
std::string state_mismatch(int64_t counter, const NamedParameters& params, torch::optim::AdamW& optimizer) {
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i].second;
    const at::Tensor want = expected_param(counter, i, p.sizes());
    if (!at::equal(p, want)) return params[i].first + " differs";
    auto it = optimizer.state().find(p.unsafeGetTensorImpl());
    if (it == optimizer.state().end()) return params[i].first + " has no optimizer state";
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    if (s.step() != counter) return params[i].first + " optimizer step " + std::to_string(s.step());
    if (!at::equal(s.exp_avg(), want.mul(0.5)) || !at::equal(s.exp_avg_sq(), want.mul(want))) {
      return params[i].first + " optimizer moments differ";
    }
  }
  return "";
}

// The child: resume from `latest` (or start at 0), then commit counter+1,
// counter+2, ... forever, reporting each commit on `report_fd`.
[[noreturn]] void writer(const std::string& root, int report_fd) {
  try {
    const NamedParameters params = make_params();
    auto optimizer = make_optimizer(params);
    const spo::training::CheckpointDir dir(root, 2);
    int64_t counter = spo::trainer::load_checkpoint(dir, params, *optimizer, kIdentity);
    for (;;) {
      ++counter;
      set_state(counter, params, *optimizer);
      spo::trainer::save_checkpoint(dir, counter, params, *optimizer, kIdentity);
      if (::write(report_fd, &counter, sizeof counter) != sizeof counter) ::_exit(3);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint writer failed: %s\n", e.what());
    ::_exit(2);
  }
}

int64_t last_reported(int fd) {
  int64_t last = 0, value = 0;
  while (::read(fd, &value, sizeof value) == sizeof value) last = value;
  return last;
}

TEST(CheckpointKill, LatestSurvivesSigkillAtRandomMomentsAndResumes) {
  const int trials = std::getenv("SPO_KILL_TRIALS") ? std::atoi(std::getenv("SPO_KILL_TRIALS")) : 200;
  const unsigned seed = std::getenv("SPO_KILL_SEED") ? unsigned(std::atoi(std::getenv("SPO_KILL_SEED"))) : 8u;
  const fs::path root = fs::temp_directory_path() / ("spo-kill-" + std::to_string(::getpid()));
  fs::remove_all(root);
  std::mt19937 rng(seed);
  // Up to ~2 checkpoint writes: kills land before, inside and between them.
  std::uniform_int_distribution<int> delay_us(0, 100000);
  int64_t newest_loaded = 0, killed_after_commit = 0;
  int trailing_trials_without_report = 0;  // each may leave a temporary file no later commit removed

  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial) + " (SPO_KILL_SEED=" + std::to_string(seed) + ")");
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      writer(root.string(), fds[1]);
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer exited on its own (status " << status << "); see its message above";
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
    const int64_t reported = last_reported(fds[0]);
    ::close(fds[0]);

    // The parent's own load: what a resumed run would see.
    const NamedParameters params = make_params();
    auto optimizer = make_optimizer(params);
    const spo::training::CheckpointDir dir(root.string(), 2);
    int64_t loaded = 0;
    ASSERT_NO_THROW(loaded = spo::trainer::load_checkpoint(dir, params, *optimizer, kIdentity));
    // Nothing committed is lost: `latest` is the last reported commit, or the
    // one committed between its rename and the report when the kill fell there.
    EXPECT_GE(loaded, std::max(reported, newest_loaded));
    EXPECT_LE(loaded, std::max(reported, newest_loaded) + 1);
    if (loaded > 0) EXPECT_EQ(state_mismatch(loaded, params, *optimizer), "") << "checkpoint " << loaded;
    killed_after_commit += reported > newest_loaded;
    trailing_trials_without_report = reported > newest_loaded ? 0 : trailing_trials_without_report + 1;
    newest_loaded = loaded;
    if (HasFailure()) break;
  }
  // Leftovers of killed writes: partial step directories are removed by the
  // next begin() or prune, stale temporary files of `latest` by the next
  // commit; only trials after the last reported commit (and its own pruning) may have left one.
  int leftovers = 0;
  for (const auto& entry : fs::directory_iterator(root)) leftovers += entry.path().filename().string().rfind("latest.tmp-", 0) == 0;
  std::printf("kill trials: %d, checkpoints committed: %lld, trials whose child committed: %lld, "
              "leftover latest.tmp files: %d\n",
              trials, static_cast<long long>(newest_loaded), static_cast<long long>(killed_after_commit), leftovers);
  EXPECT_LE(leftovers, trailing_trials_without_report + 1);
  EXPECT_GT(newest_loaded, 0) << "no trial ever committed a checkpoint: the kill schedule is too short";
  fs::remove_all(root);
}

}  // namespace

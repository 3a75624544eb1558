// Data-parallel preference-model training (PreferenceTrainingOptions::distributed)
// against one process: 2 rank processes on Gloo (a file store), batch_size 2
// each, end with the weights one process gets with batch_size 4 over the same
// pairs and draws, to 1e-5. Rank 0 alone validates and checkpoints.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "../rank_processes.h"
#include "evaluator/preference_training.h"
#include "evaluator_test_util.h"
#include "io/safetensors.h"
#include "training/checkpoint_dir.h"

namespace spo::evaluator {
namespace {

namespace fs = std::filesystem;
using testing::fixtures;
using testing::pipeline_fixtures;

// Brighter image preferred; two prompts with different pair counts (so the
// per-prompt weights differ between the ranks' slices) and one tie.
std::vector<PreferencePair> pairs_for_test(int64_t n, int64_t size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    auto a = at::rand({3, size, size}, gen) * 0.4 - 0.8, b = at::rand({3, size, size}, gen) * 0.4 + 0.2;
    const bool flip = i % 2;
    pairs.push_back({i % 3 ? "a bright image" : "a photo", flip ? a : b, flip ? b : a, flip ? 0.0 : 1.0});
  }
  pairs.push_back({"a photo", pairs[0].image_0, pairs[0].image_0, 0.5});
  return pairs;
}

PreferenceTrainingOptions dp_options(int64_t batch_size) {
  PreferenceTrainingOptions o;
  o.steps = 3;
  o.batch_size = batch_size;
  // AdamW with eps far above the gradients steps by lr * g / eps: linear in the
  // gradient, so a wrong gradient scale (a sum instead of the ranks' mean, or a
  // slice's loss normalised by its own weights) shows.
  o.learning_rate = 0.5;
  o.adam_eps = 1.0;
  o.weight_decay = 0.0;
  o.warmup_steps = 1;
  o.max_grad_norm = 0;
  o.validation_timesteps = {0, 951};
  return o;
}

std::shared_ptr<PreferenceModel> fresh_model() {
  PreferenceModelOptions mo;
  mo.time_conditioning = models::TimeConditioning::StepAware;
  return PreferenceModel::load(fixtures() + "/plain", mo);
}

std::vector<std::pair<std::string, at::Tensor>> weights(PreferenceModel& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.model()->named_parameters(true)) out.emplace_back(p.key(), p.value().detach().clone());
  return out;
}

// Worker: one rank of the real training; writes its weights and its result.
TEST(PreferenceDataParallelWorker, DISABLED_Rank) {
  const std::string dir = spo::testing::env("SPO_TEST_DIR");
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");
  const int64_t size = pipe->default_size();
  auto model = fresh_model();
  auto o = dp_options(2);
  o.checkpoint_dir = dir + "/ckpt";
  o.distributed = distributed::RendezvousOptions{};
  o.distributed->file_store = dir + "/store";
  o.distributed->timeout_seconds = 120;
  auto r = train_preference_model(*model, *pipe, pairs_for_test(8, size, 21), pairs_for_test(4, size, 22), o);
  const std::string tag = dir + "/rank" + std::to_string(r.rank);
  io::save_safetensors(tag + ".safetensors", weights(*model));
  std::ofstream(tag + ".json") << nlohmann::json{{"rank", r.rank},
                                                 {"worldSize", r.world_size},
                                                 {"losses", r.losses},
                                                 {"validations", r.validations.size()},
                                                 {"checkpoints", r.checkpoints.size()}}
                                      .dump();
}

TEST(PreferenceDataParallel, TwoGlooRanksMatchOneProcessWithTwiceTheBatch) {
  const auto dir = (fs::temp_directory_path() / ("spo_pm_dp_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto ranks = spo::testing::spawn_ranks("PreferenceDataParallelWorker.DISABLED_Rank", 2, {{"SPO_TEST_DIR", dir}}, dir);
  for (auto& p : ranks) {
    ASSERT_GT(p.pid, 0);
    ASSERT_EQ(spo::testing::wait_rank(p.pid, 600), 0) << spo::testing::read_text(p.log);
  }

  // The reference: one process, batch_size 2 x 2, no group.
  auto pipe = pipeline::Pipeline::load(pipeline_fixtures() + "/sd15");
  const int64_t size = pipe->default_size();
  auto model = fresh_model();
  const auto initial = weights(*model);
  auto ref = train_preference_model(*model, *pipe, pairs_for_test(8, size, 21), pairs_for_test(4, size, 22),
                                    dp_options(4));
  EXPECT_EQ(ref.world_size, 1);

  auto j0 = nlohmann::json::parse(spo::testing::read_text(dir + "/rank0.json"));
  auto j1 = nlohmann::json::parse(spo::testing::read_text(dir + "/rank1.json"));
  EXPECT_EQ(j0["worldSize"], 2);
  EXPECT_EQ(j1["rank"], 1);
  EXPECT_EQ(j0["validations"], 1);  // rank 0 validates ...
  EXPECT_EQ(j1["validations"], 0);  // ... the others do not
  EXPECT_EQ(j0["checkpoints"], 1);  // rank 0 checkpoints ...
  EXPECT_EQ(j1["checkpoints"], 0);  // ... the others do not
  const auto l0 = j0["losses"].get<std::vector<double>>(), l1 = j1["losses"].get<std::vector<double>>();
  ASSERT_EQ(l0.size(), ref.losses.size());
  for (size_t i = 0; i < l0.size(); ++i) {
    EXPECT_NEAR(l0[i], ref.losses[i], 1e-5) << "step " << i;  // the global batch's loss on every rank
    EXPECT_EQ(l0[i], l1[i]) << "step " << i;
  }

  auto f0 = io::SafeTensorsFile::open(dir + "/rank0.safetensors");
  auto f1 = io::SafeTensorsFile::open(dir + "/rank1.safetensors");
  const auto trained = weights(*model);
  double worst = 0, moved = 0;
  for (size_t i = 0; i < trained.size(); ++i) {
    const auto& [name, w] = trained[i];
    auto a = f0->tensor(name), b = f1->tensor(name);
    EXPECT_TRUE(at::equal(a, b)) << name;  // both ranks took the same steps
    worst = std::max(worst, testing::max_abs_diff(a, w));
    moved = std::max(moved, testing::max_abs_diff(w, initial[i].second));
  }
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(moved, 1e-3);  // far above the tolerance: a wrong gradient scale would fail
  std::cout << "[ measured ] " << ref.losses.size() << " steps; max |w(2 ranks) - w(1 process)| = " << worst
            << ", largest weight change " << moved << "\n";
  // Rank 0's checkpoint is the run's end, under the global batch's settings key.
  training::CheckpointDir ckpt(dir + "/ckpt");
  ASSERT_TRUE(ckpt.latest());
  EXPECT_EQ(ckpt.latest()->first, 3);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spo::evaluator

// Rollout pairs on the shipped shapes-world base model: one group of k
// candidates per prompt and branch step, k (k - 1) / 2 pairs each, at the
// candidates' own timesteps; the last step's candidates are final images, so
// their labels can be checked against the judge directly. And the pair-set
// file keeps every field.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "diffusion/ddim_scheduler.h"
#include "pretraining/rollout_pairs.h"
#include "pretraining/world_configs.h"
#include "world/judge.h"
#include "world/v2_judge.h"
#include "world/v2_prompts.h"

namespace spo::pretraining {
namespace {

TEST(RolloutPairs, OneGroupPerBranchStepLabelledByWhereTheCandidatesEnd) {
  auto pipe = pipeline::Pipeline::load(std::string(SPO_SOURCE_DIR) + "/assets/shapes-world/base");
  RolloutPairOptions o;
  o.steps = 6;
  o.k = 3;
  o.divert_start_step = 2;
  o.prompts_per_round = 2;
  o.tie_margin = 0.0;  // every difference decides, so the last step's labels below are not all ties
  const std::vector<std::string> prompts = {"a red circle on the left", "a green triangle below a yellow circle"};
  RolloutPairStats stats;
  auto pairs = rollout_pairs(*pipe, prompts, o, &stats, {});
  const int64_t branch_steps = o.steps - o.divert_start_step;
  ASSERT_EQ(static_cast<int64_t>(pairs.size()), 2 * branch_steps * 3);
  EXPECT_EQ(stats.groups, 2 * branch_steps);

  diffusion::DdimScheduler scheduler(pipe->scheduler_config());
  scheduler.set_timesteps(o.steps);
  std::set<int64_t> allowed = {0};  // candidates sit at prev(t) of a branch step, 0 after the last
  for (int64_t i = o.divert_start_step; i + 1 < o.steps; ++i) allowed.insert(scheduler.timesteps()[i + 1]);
  std::set<int64_t> seen;
  int64_t ties = 0, checked = 0, decided = 0;
  for (const auto& p : pairs) {
    seen.insert(p.timestep);
    ASSERT_EQ(p.image_0.sizes(), (at::IntArrayRef{3, 32, 32}));
    ties += p.label_0 == 0.5;
    if (p.timestep != 0) continue;
    // Final images: the label is the judge's verdict on these very images.
    const auto scene = world::parse_prompt(p.prompt);
    const auto label = world::label_pair(world::judge(p.image_0, scene), world::judge(p.image_1, scene), o.tie_margin);
    const double expected = label == world::PairLabel::First ? 1.0 : label == world::PairLabel::Second ? 0.0 : 0.5;
    EXPECT_EQ(p.label_0, expected) << p.prompt;
    ++checked;
    decided += expected != 0.5;
  }
  EXPECT_EQ(seen, allowed);
  EXPECT_EQ(checked, 2 * 3);
  EXPECT_GT(decided, 0) << "every final pair tied: the labels' direction went unchecked";

  // The judge reading the images: final images are exactly what labelled them.
  const auto bands = judge_reads_x0(pairs);
  ASSERT_EQ(bands.size(), 4u);
  EXPECT_EQ(bands[0].pairs, decided);
  EXPECT_EQ(bands[0].accuracy, 1.0);
  int64_t in_bands = 0;
  for (const auto& b : bands) in_bands += b.pairs;
  EXPECT_EQ(in_bands, static_cast<int64_t>(pairs.size()) - ties);
  EXPECT_EQ(ties, stats.ties);

  const auto path = (std::filesystem::temp_directory_path() / "spo_rollout_pairs_test.safetensors").string();
  save_pair_set(path, pairs);
  auto loaded = load_pair_set(path);
  std::filesystem::remove(path);
  ASSERT_EQ(loaded.size(), pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(loaded[i].prompt, pairs[i].prompt);
    EXPECT_EQ(loaded[i].timestep, pairs[i].timestep);
    EXPECT_EQ(loaded[i].label_0, pairs[i].label_0);
    // Images are stored in half precision: within 2^-11 of values in [-1, 1].
    EXPECT_LT((loaded[i].image_1 - pairs[i].image_1).abs().max().item<double>(), 1e-3);
  }
}

// The scenes world's pairs are labelled by judge v2: on an untrained scenes
// pipeline (its grammar's prompts, which the relation grammar cannot read) the
// final images' labels follow judge v2's totals, and judge_reads_x0 reads them
// with the same judge.
TEST(RolloutPairs, ScenesPairsAreLabelledByJudgeV2) {
  const auto dir = (std::filesystem::temp_directory_path() / "spo_rollout_pairs_scenes").string();
  std::filesystem::remove_all(dir);
  write_initial_world_pipeline(dir, 5, "epsilon", world::Track::Scenes);
  auto pipe = pipeline::Pipeline::load(dir);
  RolloutPairOptions o;
  o.steps = 4;
  o.k = 3;
  o.divert_start_step = 2;
  o.prompts_per_round = 2;
  o.tie_margin = 0.0;
  o.track = world::Track::Scenes;
  const std::vector<std::string> prompts = {"two red circles", "a small blue square and a large yellow triangle"};
  RolloutPairStats stats;
  auto pairs = rollout_pairs(*pipe, prompts, o, &stats, {});
  std::filesystem::remove_all(dir);
  ASSERT_EQ(static_cast<int64_t>(pairs.size()), 2 * (o.steps - o.divert_start_step) * 3);
  int64_t decided = 0, checked = 0;
  for (const auto& p : pairs) {
    if (p.timestep != 0) continue;
    const auto scene = world::v2::parse_prompt(p.prompt);
    const double d = world::v2::judge(p.image_0, scene).total - world::v2::judge(p.image_1, scene).total;
    EXPECT_EQ(p.label_0, d > 0 ? 1.0 : d < 0 ? 0.0 : 0.5) << p.prompt;
    ++checked;
    decided += d != 0;
  }
  EXPECT_EQ(checked, 2 * 3);
  ASSERT_GT(decided, 0) << "every final pair tied: the labels' direction went unchecked";
  const auto bands = judge_reads_x0(pairs, world::Track::Scenes);
  EXPECT_EQ(bands[0].pairs, decided);
  EXPECT_EQ(bands[0].accuracy, 1.0);
}

}  // namespace
}  // namespace spo::pretraining

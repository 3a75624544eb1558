// The scenes evaluator's pairs: every pair of one prompt's n samples, labelled
// by the judge totals, ties dropped: n (n - 1) / 2 minus the ties per prompt,
// against a case worked by hand; and a pass survives its cache file exactly.
#include <gtest/gtest.h>

#include <filesystem>

#include "pretraining/judged_samples.h"
#include "world/track.h"
#include "runtime/errors.h"

namespace spo::pretraining {
namespace {

// Pass a holds, for prompt i, an image filled with 0.1 a + 0.01 i (to see which pass an image came from).
std::vector<JudgedPass> hand_passes(const std::vector<std::vector<double>>& totals_by_pass) {
  std::vector<JudgedPass> passes;
  for (size_t a = 0; a < totals_by_pass.size(); ++a) {
    JudgedPass p;
    p.prompts = {"two red circles", "a blue square"};
    p.totals = totals_by_pass[a];
    p.images = at::stack({at::full({3, 4, 4}, 0.1 * a + 0.00, at::kFloat), at::full({3, 4, 4}, 0.1 * a + 0.01, at::kFloat)});
    passes.push_back(p);
  }
  return passes;
}

TEST(WithinPromptPairs, EveryUntiedPairOfAPromptsSamplesAsWorkedByHand) {
  // Four samples of two prompts (columns: prompt 0, prompt 1), tie margin 0.02.
  //   prompt 0 totals 0.50 0.51 0.60 0.90: (0,1) differ by 0.01 -> tie; the other 5 pairs: the later sample wins.
  //   prompt 1 totals 0.70 0.70 0.30 0.69: (0,1) equal -> tie, (0,3) 0.01 -> tie, (1,3) tie;
  //            (0,2) first, (1,2) first, (2,3) second.
  const auto passes = hand_passes({{0.50, 0.70}, {0.51, 0.70}, {0.60, 0.30}, {0.90, 0.69}});
  PairCounts counts;
  const auto pairs = within_prompt_pairs(passes, 0.02, false, &counts);
  EXPECT_EQ(counts.decided + counts.ties, 2 * 4 * 3 / 2);  // n (n - 1) / 2 per prompt
  EXPECT_EQ(counts.ties, 1 + 3);
  EXPECT_EQ(counts.decided, 5 + 3);
  ASSERT_EQ(pairs.size(), 8u);
  struct Want { const char* prompt; int a, b; double label; };
  const Want want[] = {{"two red circles", 0, 2, 0.0}, {"two red circles", 0, 3, 0.0}, {"two red circles", 1, 2, 0.0},
                       {"two red circles", 1, 3, 0.0}, {"two red circles", 2, 3, 0.0}, {"a blue square", 0, 2, 1.0},
                       {"a blue square", 1, 2, 1.0},   {"a blue square", 2, 3, 0.0}};
  for (size_t k = 0; k < pairs.size(); ++k) {
    const double row = std::string(want[k].prompt) == "two red circles" ? 0.0 : 0.01;
    EXPECT_EQ(pairs[k].prompt, want[k].prompt) << k;
    EXPECT_EQ(pairs[k].label_0, want[k].label) << k;
    EXPECT_FLOAT_EQ(pairs[k].image_0[0][0][0].item<float>(), 0.1 * want[k].a + row) << k;
    EXPECT_FLOAT_EQ(pairs[k].image_1[0][0][0].item<float>(), 0.1 * want[k].b + row) << k;
    EXPECT_EQ(pairs[k].timestep, 0);
  }
  // Keeping ties: all 12, the 4 ties labelled 0.5.
  const auto with_ties = within_prompt_pairs(passes, 0.02, true);
  ASSERT_EQ(with_ties.size(), 12u);
  int halves = 0;
  for (const auto& p : with_ties) halves += p.label_0 == 0.5;
  EXPECT_EQ(halves, 4);
  // Margin 0: only equal totals tie (prompt 1's (0,1)).
  EXPECT_EQ(within_prompt_pairs(passes, 0.0, false).size(), 11u);
  // Two passes: one pair per prompt, as the relation world's pairs.
  EXPECT_EQ(within_prompt_pairs({passes[0], passes[2]}, 0.02, true).size(), 2u);
}

TEST(WithinPromptPairs, RefusesPassesOfDifferentPromptsOrTooFew) {
  auto passes = hand_passes({{0.5, 0.5}, {0.6, 0.6}});
  EXPECT_THROW(within_prompt_pairs({passes[0]}, 0.02, false), InvalidArgument);
  passes[1].prompts[1] = "a red square";
  EXPECT_THROW(within_prompt_pairs(passes, 0.02, false), InvalidArgument);
}

TEST(WithinPromptPairs, APassSurvivesItsCacheFileExactly) {
  auto pass = hand_passes({{0.1 + 0.2, 1.0 / 3.0}})[0];
  pass.images = at::rand({2, 3, 4, 4}) * 2 - 1;
  const auto path = (std::filesystem::temp_directory_path() / ("spo_pass_" + std::to_string(::getpid()) + ".safetensors")).string();
  save_pass(path, pass);
  const auto back = load_pass(path);
  std::filesystem::remove(path);
  EXPECT_EQ(back.prompts, pass.prompts);
  EXPECT_EQ(back.totals, pass.totals);  // exact doubles (0.1 + 0.2 is not 0.3)
  EXPECT_TRUE(back.images.equal(pass.images));
}

TEST(WithinPromptPairs, ACachedPassIsJudgedAgainNotTrustedForItsTotals) {
  // Two scenes training renders cached with made-up totals (a judge since changed).
  const std::vector<std::string> prompts = {"two red circles", "a large blue triangle"};
  JudgedPass pass{prompts, at::stack({world::training_render(world::Track::Scenes, prompts[0], 32, 5),
                                      world::training_render(world::Track::Scenes, prompts[1], 32, 6)}),
                  {0.123, 0.456}};
  judge_again(pass, world::Track::Scenes);
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_DOUBLE_EQ(pass.totals[i],
                     world::judge_prompt(world::Track::Scenes, pass.images[static_cast<int64_t>(i)], prompts[i]).total);
  EXPECT_NE(pass.totals[0], 0.123);
  EXPECT_NE(pass.totals[1], 0.456);
  pass.prompts.pop_back();
  EXPECT_THROW(judge_again(pass, world::Track::Scenes), InvalidArgument);
}

}  // namespace
}  // namespace spo::pretraining

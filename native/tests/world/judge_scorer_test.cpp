// The world's judge as an SPO image scorer (world/judge_scorer.h): one class
// for both tracks, the track fixed at construction. Each score must be scale
// x the total of that track's judge, called here directly on the same image.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "runtime/errors.h"
#include "world/judge.h"
#include "world/judge_scorer.h"
#include "world/track.h"
#include "world/v2_judge.h"

namespace spo::world {
namespace {

// The track's own judge total, read without the scorer.
double direct_total(Track track, const at::Tensor& image, const std::string& prompt) {
  if (track == Track::Scenes) return v2::judge(image, v2::parse_prompt(prompt)).total;
  return judge(image, parse_prompt(prompt)).total;
}

// Four test prompts of the track, each rendered, every other one with noise on top
// (so the totals differ from image to image).
struct Batch {
  std::vector<std::string> prompts;
  at::Tensor images;
};
Batch batch_of(Track track) {
  const auto all = track_prompts(track, Split::Test);
  Batch b;
  std::vector<at::Tensor> images;
  at::manual_seed(7);
  for (size_t i = 0; i < 4; ++i) {
    b.prompts.push_back(all[i * 97 % all.size()]);
    at::Tensor image = training_render(track, b.prompts.back(), 32, 11 + i);
    if (i % 2 == 1) image = (image + 0.6 * at::randn_like(image)).clamp(-1, 1);
    images.push_back(image);
  }
  b.images = at::stack(images);
  return b;
}

TEST(WorldJudgeScorer, EachTrackScoresScaleTimesItsJudgesTotal) {
  for (Track track : {Track::Relations, Track::Scenes}) {
    const Batch b = batch_of(track);
    JudgeScorer scorer(7.0, track);
    EXPECT_EQ(scorer.track(), track);
    EXPECT_EQ(scorer.scale(), 7.0);
    const at::Tensor scores = scorer.score_images(b.images, b.prompts, at::zeros({4}), 0);
    ASSERT_EQ(scores.numel(), 4);
    std::set<float> distinct;
    for (int64_t i = 0; i < 4; ++i) {
      const double want = 7.0 * direct_total(track, b.images[i], b.prompts[static_cast<size_t>(i)]);
      EXPECT_NEAR(scores[i].item<float>(), want, 1e-5) << track_name(track) << ": " << b.prompts[static_cast<size_t>(i)];
      distinct.insert(scores[i].item<float>());
    }
    EXPECT_GT(distinct.size(), 1u) << "the batch should not score alike";
  }
}

TEST(WorldJudgeScorer, TheTrackIsFixedAtConstructionRelationsByDefault) {
  EXPECT_EQ(JudgeScorer().track(), Track::Relations);
  EXPECT_EQ(JudgeScorer().scale(), 10.0);
  // Each track's grammar reads only its own prompts: "two ..." is a scenes count,
  // "... on the left" a relations position.
  const auto scenes = track_prompts(Track::Scenes, Split::Test);
  const auto relations = track_prompts(Track::Relations, Split::Test);
  std::string counted, placed;
  for (const auto& p : scenes) if (p.rfind("two ", 0) == 0) { counted = p; break; }
  for (const auto& p : relations) if (p.find(" left") != std::string::npos) { placed = p; break; }
  ASSERT_FALSE(counted.empty());
  ASSERT_FALSE(placed.empty());
  const at::Tensor image = at::zeros({1, 3, 32, 32});
  EXPECT_THROW(JudgeScorer(1.0, Track::Relations).score_images(image, {counted}, at::zeros({1}), 0), InvalidArgument);
  EXPECT_THROW(JudgeScorer(1.0, Track::Scenes).score_images(image, {placed}, at::zeros({1}), 0), InvalidArgument);
  EXPECT_NO_THROW(JudgeScorer(1.0, Track::Scenes).score_images(image, {counted}, at::zeros({1}), 0));
  EXPECT_NO_THROW(JudgeScorer(1.0, Track::Relations).score_images(image, {placed}, at::zeros({1}), 0));
}

TEST(WorldJudgeScorer, RefusesBadScalesShapesAndCounts) {
  for (double bad : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    EXPECT_THROW(JudgeScorer(bad, Track::Relations), InvalidArgument) << bad;
    EXPECT_THROW(JudgeScorer(bad, Track::Scenes), InvalidArgument) << bad;
  }
  const Batch b = batch_of(Track::Scenes);
  JudgeScorer scorer(1.0, Track::Scenes);
  EXPECT_THROW(scorer.score_images(b.images, {b.prompts[0]}, at::zeros({4}), 0), InvalidArgument);
  EXPECT_THROW(scorer.score_images(b.images, b.prompts, at::zeros({3}), 0), InvalidArgument);
  EXPECT_THROW(scorer.score_images(b.images[0], b.prompts, at::zeros({4}), 0), InvalidArgument);
}

}  // namespace
}  // namespace spo::world

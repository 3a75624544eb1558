// The world tracks behind one interface (world/track.h): each track reads its
// own grammar, renders and judge, and the names a user types map both ways.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "runtime/errors.h"
#include "world/judge.h"
#include "world/renderer.h"
#include "world/track.h"
#include "world/v2_judge.h"
#include "world/v2_renderer.h"

namespace spo::world {
namespace {

TEST(WorldTrack, NamesRoundTripAndOthersAreRefused) {
  for (Track t : {Track::Relations, Track::Scenes}) EXPECT_EQ(track_from_name(track_name(t)), t);
  try {
    track_from_name("v2");
    ADD_FAILURE() << "an unknown track must throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'relations' or 'scenes'"), std::string::npos) << e.what();
  }
}

TEST(WorldTrack, PromptsComeFromEachTracksOwnSplits) {
  EXPECT_EQ(track_prompts(Track::Relations, Split::Test), split_prompts(Split::Test));
  EXPECT_EQ(track_prompts(Track::Scenes, Split::Validation), v2::split_prompts(v2::Split::Validation));
  EXPECT_EQ(track_prompts(Track::Scenes, Split::Test).size(), 500u);
  // "a red circle" is said by both grammars; only the scenes track says counts.
  const auto scenes_train = track_prompts(Track::Scenes, Split::Train);
  EXPECT_TRUE(std::any_of(scenes_train.begin(), scenes_train.end(),
                          [](const std::string& p) { return p.rfind("three ", 0) == 0; }));
}

// Relations train on clean renders; scenes on renders that carry the defects drawn from their seed.
TEST(WorldTrack, TrainingRendersAreCleanForRelationsAndDefectiveForScenes) {
  const std::string relation = split_prompts(Split::Train).back();
  for (uint64_t seed = 0; seed < 5; ++seed)
    EXPECT_TRUE(training_render(Track::Relations, relation, 32, seed).equal(render(parse_prompt(relation), 32, seed)));
  const auto prompts = v2::split_prompts(v2::Split::Train);
  int differ = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    const auto& prompt = prompts[(seed * 7919) % prompts.size()];
    const auto scene = v2::parse_prompt(prompt);
    const auto image = training_render(Track::Scenes, prompt, 32, seed);
    EXPECT_TRUE(image.equal(v2::render(scene, 32, seed, v2::draw_defects(seed)))) << prompt << " seed " << seed;
    differ += !image.equal(v2::render(scene, 32, seed));
  }
  // Eleven defects at 0.1 each leave 0.9^11 = 31% of the draws clean; some do not apply to every scene.
  EXPECT_GE(differ, 45);
  EXPECT_LE(differ, 85);
}

TEST(WorldTrack, VerdictsCarryEachJudgesParts) {
  const std::string one = "a large red circle";
  const auto image = v2::render(v2::parse_prompt(one), 32, 3);
  const auto verdict = judge_prompt(Track::Scenes, image, one);
  const auto direct = v2::judge(image, v2::parse_prompt(one));
  EXPECT_DOUBLE_EQ(verdict.total, direct.total);
  EXPECT_DOUBLE_EQ(verdict.part("coarse"), direct.coarse);
  EXPECT_DOUBLE_EQ(verdict.part("fine"), direct.fine);
  EXPECT_DOUBLE_EQ(verdict.part("count"), direct.count);
  std::vector<std::string> names;
  for (const auto& [name, value] : verdict.parts) names.push_back(name);
  EXPECT_EQ(names, judge_parts(Track::Scenes));
  EXPECT_EQ(names.front(), "total");
  try {
    verdict.part("place");
    ADD_FAILURE() << "the scenes judge has no place part";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("coarse"), std::string::npos) << e.what();
  }
  const auto relations = judge_prompt(Track::Relations, render(parse_prompt(one), 32, 3), one);
  EXPECT_DOUBLE_EQ(relations.part("place"), 1.0);  // no position asked
  EXPECT_DOUBLE_EQ(relations.total, judge(render(parse_prompt(one), 32, 3), parse_prompt(one)).total);
  EXPECT_THROW(judge_prompt(Track::Relations, image, "two red circles"), InvalidArgument);
}

// Words are letters only (a comma is punctuation for the tokenizer, not part of "circle,").
TEST(WorldTrack, WordsAreEachGrammarsLetters) {
  const auto scenes = track_words(Track::Scenes);
  for (const char* w : {"two", "three", "and", "circle", "small"})
    EXPECT_TRUE(std::binary_search(scenes.begin(), scenes.end(), std::string(w))) << w;
  for (const auto& w : scenes) EXPECT_EQ(w.find(','), std::string::npos) << w;
  const auto relations = track_words(Track::Relations);
  EXPECT_TRUE(std::binary_search(relations.begin(), relations.end(), std::string("above")));
  EXPECT_FALSE(std::binary_search(relations.begin(), relations.end(), std::string("three")));
  // The relations grammar has no punctuation: its words are its whitespace-separated words.
  std::vector<std::string> spaced;
  for (const auto& scene : all_scenes()) {
    std::istringstream in(to_prompt(scene));
    for (std::string w; in >> w;) spaced.push_back(w);
  }
  std::sort(spaced.begin(), spaced.end());
  spaced.erase(std::unique(spaced.begin(), spaced.end()), spaced.end());
  EXPECT_EQ(relations, spaced);
}

}  // namespace
}  // namespace spo::world

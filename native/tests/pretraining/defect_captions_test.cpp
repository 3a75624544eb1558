// Captions that name a training render's defects (defect_captions.h): they
// name exactly what the image carries, checked against the renderer itself
// (re-rendering with only the named defects gives the same pixels, and
// dropping any named one changes them), and the evaluator's tokenizer reads
// every caption word as one token without moving a prompt word's id.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "pretraining/defect_captions.h"
#include "pretraining/world_dataset.h"
#include "pretraining/world_tokenizer.h"
#include "runtime/errors.h"
#include "text/clip_tokenizer.h"
#include "world/track.h"
#include "world/v2_renderer.h"

namespace spo::pretraining {
namespace {
namespace v2 = world::v2;

v2::Defect defect_named(const std::string& name) {
  for (int d = 0; d < v2::kDefectCount; ++d)
    if (name == v2::defect_name(static_cast<v2::Defect>(d))) return static_cast<v2::Defect>(d);
  throw std::runtime_error("no defect " + name);
}

TEST(DefectCaptions, FollowThePromptWithOneWordPerDefectInOrder) {
  EXPECT_EQ(caption_with_defects("two red circles", {}), "two red circles");
  EXPECT_EQ(caption_with_defects("two red circles", {"blur", "grain"}), "two red circles, blurry, grainy");
  EXPECT_EQ(caption_with_defects("a blue square", {"colour-cast", "missing-object", "texture"}),
            "a blue square, tinted, incomplete, textured");
  EXPECT_THROW(caption_with_defects("a blue square", {"smudge"}), InvalidArgument);
  // One distinct word per defect of world v2.
  const auto words = defect_caption_words();
  EXPECT_EQ(words.size(), static_cast<size_t>(v2::kDefectCount));
  EXPECT_EQ(std::set<std::string>(words.begin(), words.end()).size(), words.size());
}

// The tags of a training render are exactly the defects its pixels carry.
TEST(DefectCaptions, NameExactlyTheDefectsARenderCarries) {
  const auto prompts = world::track_prompts(world::Track::Scenes, world::Split::Train);
  int tagged = 0, skipped = 0;
  for (uint64_t i = 0; i < 300; ++i) {
    const auto& prompt = prompts[(i * 517) % prompts.size()];
    const uint64_t seed = 1000 + i;
    const auto r = world::tagged_training_render(world::Track::Scenes, prompt, 32, seed);
    EXPECT_TRUE(r.image.equal(world::training_render(world::Track::Scenes, prompt, 32, seed))) << prompt;
    const auto scene = v2::parse_prompt(prompt);
    const auto drawn = v2::draw_defects(seed);
    v2::Defects named;
    for (const auto& d : r.defects) {
      named.set(defect_named(d));
      EXPECT_TRUE(drawn.has(defect_named(d))) << prompt << ": " << d << " was not drawn";
    }
    // Only the named defects reproduce the image, pixel for pixel (one
    // exception the renderer defines: jagged drawn on large squares only snaps
    // their edges to the 2 px grid without a staircase, and it does not count
    // that as carrying the defect, so the caption does not name it) ...
    auto reproduced = named;
    if (drawn.has(v2::Defect::Jagged)) reproduced.set(v2::Defect::Jagged);
    EXPECT_TRUE(v2::render(scene, 32, seed, reproduced).equal(r.image)) << prompt << " seed " << seed;
    // ... and each named one shows in it.
    for (const auto& d : r.defects) {
      auto fewer = reproduced;
      fewer.set(defect_named(d), false);
      EXPECT_FALSE(v2::render(scene, 32, seed, fewer).equal(r.image)) << prompt << ": " << d << " left no trace";
    }
    tagged += !r.defects.empty();
    skipped += drawn.count() != static_cast<int>(r.defects.size());
  }
  EXPECT_GT(tagged, 150);  // ~69% of renders carry a defect at the default rates
  EXPECT_GT(skipped, 0);   // some drawn defects do not apply (e.g. merged on one colour) and are not named
  // The relation track's renders carry none.
  EXPECT_TRUE(world::tagged_training_render(world::Track::Relations, "a red circle", 32, 3).defects.empty());
}

TEST(DefectCaptions, BatchCaptionsNameDefectsAShareOfTheTimeAndLeaveImagesAlone) {
  const auto prompts = world::track_prompts(world::Track::Scenes, world::Split::Train);
  const auto none = world_batch(world::Track::Scenes, prompts, 64, 32, 9, 3, false, 0.0);
  const auto all = world_batch(world::Track::Scenes, prompts, 64, 32, 9, 3, false, 1.0);
  EXPECT_TRUE(none.images.equal(all.images));
  EXPECT_EQ(none.prompts, all.prompts);
  EXPECT_EQ(none.captions, none.prompts);
  // Share 1: image k is the training render of draw k + 1 (world_batch's seed
  // stream) and its caption names exactly that render's defects.
  int with_defects = 0;
  for (size_t k = 0; k < all.prompts.size(); ++k) {
    const auto r = world::tagged_training_render(world::Track::Scenes, all.prompts[k], 32,
                                                 mix_seed(9 ^ 0x5A5A, 3, k + 1));
    EXPECT_TRUE(r.image.equal(all.images[static_cast<int64_t>(k)])) << k;
    EXPECT_EQ(all.captions[k], caption_with_defects(all.prompts[k], r.defects));
    with_defects += !r.defects.empty();
  }
  EXPECT_GT(with_defects, 20);
  // Share 0.5: about half of the ~69% of renders that carry a defect get a different caption.
  int differ = 0, total = 0;
  for (int64_t step = 0; step < 40; ++step) {
    const auto half = world_batch(world::Track::Scenes, prompts, 50, 32, 21, step, false, 0.5);
    for (size_t i = 0; i < half.prompts.size(); ++i) differ += half.captions[i] != half.prompts[i], ++total;
  }
  EXPECT_NEAR(static_cast<double>(differ) / total, 0.5 * 0.69, 0.05);
  int hits = 0;
  for (uint64_t d = 0; d < 4000; ++d) hits += names_defects(0.3, 5, 7, d);
  EXPECT_NEAR(hits / 4000.0, 0.3, 0.03);
  EXPECT_FALSE(names_defects(0.0, 5, 7, 1));
  EXPECT_TRUE(names_defects(1.0, 5, 7, 1));
}

TEST(DefectCaptions, TheScenesEvaluatorVocabularyReadsEachWordAsOneTokenAndKeepsPromptIds) {
  const auto plain = world_vocabulary(world::Track::Scenes);
  const auto captions = world_vocabulary(world::Track::Scenes, true);
  for (const auto& w : defect_caption_words()) {
    EXPECT_EQ(std::find(plain.tokens.begin(), plain.tokens.end(), w + "</w>"), plain.tokens.end()) << w;
    EXPECT_NE(std::find(captions.tokens.begin(), captions.tokens.end(), w + "</w>"), captions.tokens.end()) << w;
  }
  // Every prompt token keeps its id (the caption words come after them).
  for (size_t i = 0; i + 2 < plain.tokens.size(); ++i) EXPECT_EQ(captions.tokens[i], plain.tokens[i]);
  const auto dir = (std::filesystem::temp_directory_path() / ("spo_captions_tok_" + std::to_string(::getpid()))).string();
  write_world_tokenizer(dir, world::Track::Scenes, true);
  auto tok = text::ClipTokenizer::from_directory(dir);
  const auto ids = tok.encode("two red circles, blurry, grainy");
  // bos, two, red, circles, ",", blurry, ",", grainy, eos
  EXPECT_EQ(ids.size(), 9u);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(evaluator_caption_words(world::Track::Scenes));
  EXPECT_FALSE(evaluator_caption_words(world::Track::Relations));
}

}  // namespace
}  // namespace spo::pretraining

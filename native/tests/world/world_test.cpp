// The shapes world: the grammar's round trip and fixed splits, the renderer's
// determinism and range, and the judge's scores on ground truth, wrong prompts
// and noise (the three means are printed for docs/SHAPES_WORLD.md).
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <set>

#include "runtime/errors.h"
#include "world/judge.h"
#include "world/prompt_grammar.h"
#include "world/renderer.h"

namespace spo::world {
namespace {

constexpr int64_t kImage = 64;

// 25 one-object and 25 two-object scenes, spread over all_scenes() by fixed strides.
std::vector<Scene> sample_scenes() {
  const auto all = all_scenes();
  std::vector<Scene> out;
  for (size_t i = 0; i < 25; ++i) out.push_back(all[(i * 97 + 13) % 576]);
  for (size_t i = 0; i < 25; ++i) out.push_back(all[576 + (i * 7919 + 101) % (all.size() - 576)]);
  return out;
}

// The scene with one thing wrong: colour, shape, or placement, in turn.
Scene wrong(const Scene& s, size_t i) {
  Scene w = s;
  Object& o = w.objects[0];
  const int kind = static_cast<int>(i % 3);
  if (kind == 2 && w.objects.size() == 2) {
    static const Relation kSwap[] = {Relation::Below, Relation::Above, Relation::RightOf, Relation::LeftOf};
    w.relation = kSwap[static_cast<int>(w.relation)];
  } else if (kind == 2 && w.position != Position::Anywhere) {
    static const Position kOpp[] = {Position::Anywhere, Position::Right, Position::Left,
                                    Position::Bottom,   Position::Top,   Position::Left};
    w.position = kOpp[static_cast<int>(w.position)];
  } else if (kind == 1) {
    o.shape = static_cast<Shape>((static_cast<int>(o.shape) + 1 + i % 3) % kShapeCount);
  } else {
    o.colour = static_cast<Colour>((static_cast<int>(o.colour) + 1 + i % 7) % kColourCount);
  }
  return w;
}

TEST(PromptGrammar, RoundTripsEveryScene) {
  const auto scenes = all_scenes();
  EXPECT_EQ(scenes.size(), 37056u);
  std::set<std::string> prompts;
  for (const Scene& s : scenes) {
    const std::string p = to_prompt(s);
    ASSERT_EQ(parse_prompt(p), s) << p;
    prompts.insert(p);
  }
  EXPECT_EQ(prompts.size(), scenes.size());  // no two scenes say the same thing
}

TEST(PromptGrammar, SaysNaturalPrompts) {
  Scene one;
  one.objects = {{Shape::Circle, Colour::Red, Size::Small}};
  one.position = Position::Left;
  EXPECT_EQ(to_prompt(one), "a small red circle on the left");
  Scene two;
  two.objects = {{Shape::Square, Colour::Blue, Size::Medium}, {Shape::Triangle, Colour::Green, Size::Large}};
  two.relation = Relation::Above;
  EXPECT_EQ(to_prompt(two), "a blue square above a large green triangle");
  two.objects[0].colour = Colour::Orange;
  two.relation = Relation::RightOf;
  EXPECT_EQ(to_prompt(two), "an orange square to the right of a large green triangle");
}

TEST(PromptGrammar, ParseNamesTheWordItCannotRead) {
  try {
    parse_prompt("a red blob above a green square");
    FAIL() << "no throw";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'blob'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_prompt("a red circle on the"), InvalidArgument);
  EXPECT_THROW(parse_prompt("a red circle at the left"), InvalidArgument);
  EXPECT_THROW(parse_prompt("a red circle above"), InvalidArgument);
  EXPECT_THROW(parse_prompt(""), InvalidArgument);
}

TEST(Splits, HaveFixedSizesAndAreDisjoint) {
  const auto train = split_prompts(Split::Train), val = split_prompts(Split::Validation),
             test = split_prompts(Split::Test);
  EXPECT_EQ(test.size(), 500u);
  EXPECT_EQ(val.size(), 500u);
  EXPECT_EQ(train.size() + val.size() + test.size(), all_scenes().size());
  std::set<std::string> seen;
  for (const auto* split : {&train, &val, &test})
    for (const auto& p : *split) EXPECT_TRUE(seen.insert(p).second) << p;
  // Saying a scene the other way round keeps its split.
  for (const auto& p : test) EXPECT_EQ(split_of(to_prompt(canonical(parse_prompt(p)))), Split::Test) << p;
}

TEST(Splits, AreStable) {
  // Regression guard: computed once from the rule in prompt_grammar.h.
  EXPECT_EQ(fnv1a64(""), 14695981039346656037ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  const auto test = split_prompts(Split::Test), val = split_prompts(Split::Validation);
  EXPECT_EQ(test[0], "a small green circle");
  EXPECT_EQ(test[1], "a small blue circle on the right");
  EXPECT_EQ(test[250], "a large purple circle to the left of a small blue triangle");
  EXPECT_EQ(test[499], "a large pink diamond to the right of a red diamond");
  EXPECT_EQ(val[0], "a small green circle at the bottom");
  EXPECT_EQ(val[499], "a large pink diamond to the right of a small blue square");
  EXPECT_EQ(split_of("a small red circle on the left"), Split::Train);
  EXPECT_EQ(split_of("a blue square above a large green triangle"), Split::Train);
  EXPECT_EQ(split_of("a large green triangle below a blue square"), Split::Train);  // same canonical scene
  EXPECT_EQ(split_of("a large pink diamond to the right of a red diamond"), Split::Test);
  EXPECT_EQ(split_of("a red diamond to the left of a large pink diamond"), Split::Test);
  EXPECT_THROW(split_of("a red circle above a red circle"), InvalidArgument);  // not in the grammar
}

TEST(Renderer, IsDeterministicAndInRange) {
  for (const Scene& s : sample_scenes()) {
    const at::Tensor a = render(s, kImage, 7), b = render(s, kImage, 7), c = render(s, kImage, 8);
    ASSERT_EQ(a.sizes(), (at::IntArrayRef{3, kImage, kImage}));
    EXPECT_EQ(a.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(a, b)) << to_prompt(s);
    EXPECT_FALSE(at::equal(a, c)) << to_prompt(s);
    EXPECT_GE(a.min().item<float>(), -1.0f);
    EXPECT_LE(a.max().item<float>(), 1.0f);
  }
  Scene bad;
  EXPECT_THROW(render(bad, kImage, 0), InvalidArgument);
}

TEST(Judge, ScoresTruthHighWrongPromptsAndNoiseLow) {
  const auto scenes = sample_scenes();
  for (int64_t size : {kImage, kImage / 2}) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
    double truth = 0, wrong_mean = 0, noise = 0;
    for (size_t i = 0; i < scenes.size(); ++i) {
      const at::Tensor image = render(scenes[i], size, 1000 + i);
      const JudgeScore t = judge(image, scenes[i]), w = judge(image, wrong(scenes[i], i));
      const JudgeScore z = judge(at::rand({3, size, size}, gen) * 2 - 1, scenes[i]);
      truth += t.total / scenes.size();
      wrong_mean += w.total / scenes.size();
      noise += z.total / scenes.size();
      if (t.total < 0.85)
        std::printf("  low truth %.3f (colour %.2f shape %.2f count %.2f place %.2f bg %.2f edges %.2f): %s\n", t.total,
                    t.colour, t.shape, t.count, t.place, t.background, t.edges, to_prompt(scenes[i]).c_str());
    }
    std::printf("judge means over %zu scenes at %lldpx: ground truth %.3f, wrong prompt %.3f, noise %.3f\n",
                scenes.size(), static_cast<long long>(size), truth, wrong_mean, noise);
    EXPECT_GT(truth, 0.85) << size;
    EXPECT_LT(wrong_mean, 0.5) << size;
    EXPECT_LT(noise, 0.2) << size;
  }
}

TEST(Judge, RejectsBadInput) {
  Scene s = all_scenes()[0];
  EXPECT_THROW(judge(at::zeros({1, 8, 8}), s), InvalidArgument);
  EXPECT_THROW(judge(at::zeros({3, 4, 4}), s), InvalidArgument);
  EXPECT_THROW(judge(at::zeros({3, 16, 16}), Scene{}), InvalidArgument);
}

TEST(Judge, LabelsPairsWithTies) {
  JudgeScore a, b;
  a.total = 0.80, b.total = 0.78;
  EXPECT_EQ(label_pair(a, b, 0.05), PairLabel::Tie);
  EXPECT_EQ(label_pair(b, a, 0.05), PairLabel::Tie);
  EXPECT_EQ(label_pair(a, b, 0.01), PairLabel::First);
  EXPECT_EQ(label_pair(b, a, 0.01), PairLabel::Second);
  EXPECT_EQ(label_pair(a, a, 0.0), PairLabel::Tie);
  EXPECT_THROW(label_pair(a, b, -0.1), InvalidArgument);
}

}  // namespace
}  // namespace spo::world

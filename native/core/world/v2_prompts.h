// World v2, the main track's prompts (docs/SHAPES_WORLD.md, "World v2"): one to
// three objects described by shape, colour, size and count, with no spatial
// words: "two red circles", "a small blue square and a large yellow triangle".
// The relation grammar of prompt_grammar.h stays as the separate relation track.
#pragma once
#include <string>
#include <vector>

#include "world/prompt_grammar.h"

namespace spo::world::v2 {

inline constexpr int kMaxObjects = 3;  // objects in a scene, counting each copy

// `count` copies of one object ("two small red circles": count 2).
struct Group {
  Object object;
  int count = 1;  // 1..3
  bool operator==(const Group& o) const { return object == o.object && count == o.count; }
};

// A scene of the main track: 1..3 groups of different objects, 1..3 objects in all.
struct Scene {
  std::vector<Group> groups;
  bool operator==(const Scene& o) const { return groups == o.groups; }
  int object_count() const;
  std::vector<Object> objects() const;  // each copy once, in group order
};

// Throws InvalidArgument (saying why) unless the scene has 1..3 groups of
// different objects, counts >= 1 and at most kMaxObjects objects in all.
void validate(const Scene& scene);

// Index of an object in the fixed order shape, colour, size (0..95).
int object_index(const Object& o);

// "a small red circle", "two red circles", "a red circle and two blue squares",
// "a red circle, a blue square and a large green triangle". Groups in the order
// given; throws InvalidArgument for a scene validate() rejects.
std::string to_prompt(const Scene& scene);

// The inverse of to_prompt for groups in any order; throws InvalidArgument
// naming the first word it cannot read, or saying which rule the prompt breaks.
Scene parse_prompt(const std::string& prompt);

// The groups sorted by object_index: the one way to say a scene, and the split key.
Scene canonical(const Scene& scene);

// Every canonical scene, in a fixed order: by number of groups, then by the
// groups' object indices and counts. Counted in docs/SHAPES_WORLD.md: with
// N = 96 objects, 3N one-group scenes (counts 1, 2, 3), C(N,2) * 3 two-group
// scenes (counts 1+1, 2+1, 1+2) and C(N,3) three-group scenes (1+1+1):
// 288 + 13680 + 142880 = 156848.
std::vector<Scene> all_scenes();

// The main track's splits (a type of its own, so that calls never mix the two tracks).
enum class Split { Train, Validation, Test };

// The fixed splits of the main track. Rule (the relation track's rule, applied
// per number of objects so every form is in every split): order the canonical
// prompts by (fnv1a64(prompt), prompt); walking that order, a prompt with n
// objects goes to Test while Test holds fewer than kTestQuota[n - 1] prompts
// of n objects, else to Validation while it holds fewer than
// kValidationQuota[n - 1], else to Train. Prompts come back in all_scenes() order.
inline constexpr size_t kTestQuota[kMaxObjects] = {10, 90, 400};        // 500 in all
inline constexpr size_t kValidationQuota[kMaxObjects] = {10, 90, 400};  // 500 in all
std::vector<std::string> split_prompts(Split split);

// The split of a main-track prompt (any group order); throws InvalidArgument if it cannot be parsed.
Split split_of(const std::string& prompt);

}  // namespace spo::world::v2

// The shapes world's prompt grammar (docs/SHAPES_WORLD.md): scenes of one or
// two coloured shapes, their English prompts, and fixed train/validation/test
// splits of every prompt the grammar can say.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace spo::world {

enum class Shape { Circle, Square, Triangle, Diamond };
enum class Colour { Red, Green, Blue, Yellow, Purple, Orange, Cyan, Pink };
enum class Size { Small, Medium, Large };  // medium is never said in a prompt
// Where a lone object sits; Anywhere = no position words.
enum class Position { Anywhere, Left, Right, Top, Bottom, Centre };
// How the first of two objects sits relative to the second.
enum class Relation { Above, Below, LeftOf, RightOf };

inline constexpr int kShapeCount = 4, kColourCount = 8, kSizeCount = 3;

struct Object {
  Shape shape = Shape::Circle;
  Colour colour = Colour::Red;
  Size size = Size::Medium;
  bool operator==(const Object& o) const { return shape == o.shape && colour == o.colour && size == o.size; }
};

struct Scene {
  std::vector<Object> objects;             // 1 or 2
  Position position = Position::Anywhere;  // one object only
  Relation relation = Relation::Above;     // two objects only
  bool operator==(const Scene& o) const;
};

const char* shape_name(Shape s);
const char* colour_name(Colour c);

// "a small red circle on the left", "a blue square above a large green triangle".
// Throws InvalidArgument for 0 or 3+ objects or a position on a two-object scene.
std::string to_prompt(const Scene& scene);

// The inverse of to_prompt; throws InvalidArgument naming the first word it cannot read.
Scene parse_prompt(const std::string& prompt);

// The same scene said the canonical way: "X below Y" -> "Y above X",
// "X to the right of Y" -> "Y to the left of X". The split key.
Scene canonical(const Scene& scene);

// Every scene, in a fixed order: one-object scenes (shape, colour, size,
// position), then two-object scenes (relation, first, second) with two
// different objects. 576 + 36480 = 37056 scenes.
std::vector<Scene> all_scenes();

enum class Split { Train, Validation, Test };

// FNV-1a 64 of the UTF-8 bytes (stable across compilers, unlike std::hash).
uint64_t fnv1a64(const std::string& text);

// The fixed splits. Rule: group prompts by their canonical prompt (so "X below
// Y" and "Y above X" share a split), order the groups by (fnv1a64(canonical
// prompt), canonical prompt), and fill Test to exactly kTestPrompts, then
// Validation to exactly kValidationPrompts, taking groups in that order and
// skipping a group that would overfill; every other prompt is Train.
// Prompts come back in all_scenes() order.
inline constexpr size_t kTestPrompts = 500, kValidationPrompts = 500;
std::vector<std::string> split_prompts(Split split);

// The split of one grammar prompt; throws InvalidArgument if it cannot be parsed.
Split split_of(const std::string& prompt);

}  // namespace spo::world

#include "world/prompt_grammar.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <unordered_map>

#include "runtime/errors.h"

namespace spo::world {

namespace {

const char* const kShapeNames[kShapeCount] = {"circle", "square", "triangle", "diamond"};
const char* const kColourNames[kColourCount] = {"red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink"};

std::string object_phrase(const Object& o) {
  std::string words;
  if (o.size == Size::Small) words = "small ";
  if (o.size == Size::Large) words = "large ";
  words += std::string(colour_name(o.colour)) + " " + shape_name(o.shape);
  const bool vowel = std::string("aeiou").find(words[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + words;
}

const char* position_phrase(Position p) {
  switch (p) {
    case Position::Left: return " on the left";
    case Position::Right: return " on the right";
    case Position::Top: return " at the top";
    case Position::Bottom: return " at the bottom";
    case Position::Centre: return " in the centre";
    default: return "";
  }
}

const char* relation_phrase(Relation r) {
  switch (r) {
    case Relation::Above: return " above ";
    case Relation::Below: return " below ";
    case Relation::LeftOf: return " to the left of ";
    default: return " to the right of ";
  }
}

// A cursor over the prompt's words that names the word it fails on.
class Words {
 public:
  explicit Words(const std::string& prompt) : prompt_(prompt) {
    std::istringstream in(prompt);
    for (std::string w; in >> w;) words_.push_back(w);
  }
  bool done() const { return i_ >= words_.size(); }
  const std::string& peek() const {
    static const std::string kEnd;
    return done() ? kEnd : words_[i_];
  }
  [[noreturn]] void fail() const {
    if (done()) throw InvalidArgument("parse_prompt: \"" + prompt_ + "\" ends too early");
    throw InvalidArgument("parse_prompt: cannot read the word '" + words_[i_] + "' in \"" + prompt_ + "\"");
  }
  void expect(const char* word) {
    if (peek() != word) fail();
    ++i_;
  }
  bool accept(const char* word) {
    if (done() || peek() != word) return false;
    ++i_;
    return true;
  }
  // Index of the current word in `names`, consuming it; fails if absent.
  int one_of(const char* const* names, int count) {
    for (int k = 0; k < count; ++k)
      if (peek() == names[k]) return ++i_, k;
    fail();
  }

 private:
  std::string prompt_;
  std::vector<std::string> words_;
  size_t i_ = 0;
};

Object parse_object(Words& w) {
  if (!w.accept("a") && !w.accept("an")) w.fail();
  Object o;
  if (w.accept("small")) o.size = Size::Small;
  else if (w.accept("large")) o.size = Size::Large;
  o.colour = static_cast<Colour>(w.one_of(kColourNames, kColourCount));
  o.shape = static_cast<Shape>(w.one_of(kShapeNames, kShapeCount));
  return o;
}

// Built once: the prompt -> split table (the rule is in the header).
const std::unordered_map<std::string, Split>& split_table() {
  static const std::unordered_map<std::string, Split> table = [] {
    std::map<std::string, std::vector<std::string>> groups;  // canonical prompt -> prompts
    for (const Scene& s : all_scenes()) groups[to_prompt(canonical(s))].push_back(to_prompt(s));
    std::vector<std::pair<uint64_t, const std::string*>> order;
    for (const auto& g : groups) order.emplace_back(fnv1a64(g.first), &g.first);
    std::sort(order.begin(), order.end(),
              [](const auto& a, const auto& b) { return a.first != b.first ? a.first < b.first : *a.second < *b.second; });
    std::unordered_map<std::string, Split> t;
    size_t test = 0, validation = 0;
    for (const auto& [hash, key] : order) {
      const auto& members = groups[*key];
      Split split = Split::Train;
      if (test + members.size() <= kTestPrompts) split = Split::Test, test += members.size();
      else if (validation + members.size() <= kValidationPrompts) split = Split::Validation, validation += members.size();
      for (const auto& p : members) t.emplace(p, split);
    }
    return t;
  }();
  return table;
}

}  // namespace

bool Scene::operator==(const Scene& o) const {
  if (objects != o.objects) return false;
  if (objects.size() == 1) return position == o.position;
  return relation == o.relation;
}

const char* shape_name(Shape s) { return kShapeNames[static_cast<int>(s)]; }
const char* colour_name(Colour c) { return kColourNames[static_cast<int>(c)]; }

std::string to_prompt(const Scene& scene) {
  const size_t n = scene.objects.size();
  require(n == 1 || n == 2, "to_prompt: a scene has 1 or 2 objects, got " + std::to_string(n));
  if (n == 1) return object_phrase(scene.objects[0]) + position_phrase(scene.position);
  require(scene.position == Position::Anywhere, "to_prompt: a two-object scene has no position");
  return object_phrase(scene.objects[0]) + relation_phrase(scene.relation) + object_phrase(scene.objects[1]);
}

Scene parse_prompt(const std::string& prompt) {
  Words w(prompt);
  Scene s;
  s.objects.push_back(parse_object(w));
  if (w.done()) return s;
  if (w.accept("on")) {
    w.expect("the");
    s.position = w.accept("left") ? Position::Left : (w.expect("right"), Position::Right);
  } else if (w.accept("at")) {
    w.expect("the");
    s.position = w.accept("top") ? Position::Top : (w.expect("bottom"), Position::Bottom);
  } else if (w.accept("in")) {
    w.expect("the");
    w.expect("centre");
    s.position = Position::Centre;
  } else {
    if (w.accept("above")) s.relation = Relation::Above;
    else if (w.accept("below")) s.relation = Relation::Below;
    else {
      w.expect("to");
      w.expect("the");
      s.relation = w.accept("left") ? Relation::LeftOf : (w.expect("right"), Relation::RightOf);
      w.expect("of");
    }
    s.objects.push_back(parse_object(w));
  }
  if (!w.done()) w.fail();
  return s;
}

Scene canonical(const Scene& scene) {
  Scene c = scene;
  if (c.objects.size() != 2) return c;
  if (c.relation == Relation::Below || c.relation == Relation::RightOf) {
    std::swap(c.objects[0], c.objects[1]);
    c.relation = c.relation == Relation::Below ? Relation::Above : Relation::LeftOf;
  }
  return c;
}

std::vector<Scene> all_scenes() {
  std::vector<Object> objects;
  for (int sh = 0; sh < kShapeCount; ++sh)
    for (int c = 0; c < kColourCount; ++c)
      for (int sz = 0; sz < kSizeCount; ++sz)
        objects.push_back({static_cast<Shape>(sh), static_cast<Colour>(c), static_cast<Size>(sz)});
  std::vector<Scene> scenes;
  for (const Object& o : objects)
    for (int p = 0; p <= static_cast<int>(Position::Centre); ++p) {
      Scene s;
      s.objects = {o};
      s.position = static_cast<Position>(p);
      scenes.push_back(s);
    }
  for (int r = 0; r <= static_cast<int>(Relation::RightOf); ++r)
    for (const Object& a : objects)
      for (const Object& b : objects) {
        if (a == b) continue;  // "a red circle above a red circle" names no one object
        Scene s;
        s.objects = {a, b};
        s.relation = static_cast<Relation>(r);
        scenes.push_back(s);
      }
  return scenes;
}

uint64_t fnv1a64(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<std::string> split_prompts(Split split) {
  const auto& table = split_table();
  std::vector<std::string> out;
  for (const Scene& s : all_scenes()) {
    std::string p = to_prompt(s);
    if (table.at(p) == split) out.push_back(std::move(p));
  }
  return out;
}

Split split_of(const std::string& prompt) {
  const std::string p = to_prompt(parse_prompt(prompt));
  const auto& table = split_table();
  auto it = table.find(p);
  require(it != table.end(), "split_of: \"" + prompt + "\" is not a prompt of the grammar");
  return it->second;
}

}  // namespace spo::world

#include "world/v2_prompts.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "runtime/errors.h"

namespace spo::world::v2 {

namespace {

const char* const kCountWords[kMaxObjects] = {"a", "two", "three"};
const char* const kShapePlurals[kShapeCount] = {"circles", "squares", "triangles", "diamonds"};
const char* const kShapeWords[kShapeCount] = {"circle", "square", "triangle", "diamond"};
const char* const kColourWords[kColourCount] = {"red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink"};

std::string group_phrase(const Group& g) {
  std::string words;
  if (g.object.size == Size::Small) words = "small ";
  if (g.object.size == Size::Large) words = "large ";
  words += std::string(colour_name(g.object.colour)) + " ";
  words += g.count == 1 ? shape_name(g.object.shape) : kShapePlurals[static_cast<int>(g.object.shape)];
  if (g.count > 1) return std::string(kCountWords[g.count - 1]) + " " + words;
  const bool vowel = std::string("aeiou").find(words[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + words;
}

// The prompt's words, a comma being a word of its own; names the word it fails on.
class Words {
 public:
  explicit Words(const std::string& prompt) : prompt_(prompt) {
    std::string w;
    auto flush = [&] {
      if (!w.empty()) words_.push_back(w), w.clear();
    };
    for (char ch : prompt) {
      if (ch == ' ' || ch == '\t' || ch == '\n') flush();
      else if (ch == ',') flush(), words_.push_back(",");
      else w += ch;
    }
    flush();
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
  bool accept(const char* word) {
    if (done() || peek() != word) return false;
    ++i_;
    return true;
  }
  int one_of(const char* const* names, int count) {
    for (int k = 0; k < count; ++k)
      if (peek() == names[k]) return ++i_, k;
    fail();
  }
  const std::string& prompt() const { return prompt_; }

 private:
  std::string prompt_;
  std::vector<std::string> words_;
  size_t i_ = 0;
};

Group parse_group(Words& w) {
  Group g;
  if (w.accept("a") || w.accept("an")) g.count = 1;
  else if (w.accept("two")) g.count = 2;
  else if (w.accept("three")) g.count = 3;
  else w.fail();
  if (w.accept("small")) g.object.size = Size::Small;
  else if (w.accept("large")) g.object.size = Size::Large;
  g.object.colour = static_cast<Colour>(w.one_of(kColourWords, kColourCount));
  g.object.shape = static_cast<Shape>(w.one_of(g.count == 1 ? kShapeWords : kShapePlurals, kShapeCount));
  return g;
}

Object object_at(int index) {
  return {static_cast<Shape>(index / (kColourCount * kSizeCount)),
          static_cast<Colour>(index / kSizeCount % kColourCount), static_cast<Size>(index % kSizeCount)};
}

const std::unordered_map<std::string, Split>& split_table() {
  static const std::unordered_map<std::string, Split> table = [] {
    struct Key {
      uint64_t hash;
      std::string prompt;
      int objects;
    };
    std::vector<Key> keys;
    for (const Scene& s : all_scenes()) {
      std::string p = to_prompt(s);
      keys.push_back({fnv1a64(p), std::move(p), s.object_count()});
    }
    std::sort(keys.begin(), keys.end(),
              [](const Key& a, const Key& b) { return a.hash != b.hash ? a.hash < b.hash : a.prompt < b.prompt; });
    std::array<size_t, kMaxObjects> test{}, validation{};
    std::unordered_map<std::string, Split> t;
    t.reserve(keys.size());
    for (const Key& k : keys) {
      const int n = k.objects - 1;
      Split split = Split::Train;
      if (test[n] < kTestQuota[n]) split = Split::Test, ++test[n];
      else if (validation[n] < kValidationQuota[n]) split = Split::Validation, ++validation[n];
      t.emplace(k.prompt, split);
    }
    return t;
  }();
  return table;
}

}  // namespace

int Scene::object_count() const {
  int n = 0;
  for (const Group& g : groups) n += g.count;
  return n;
}

std::vector<Object> Scene::objects() const {
  std::vector<Object> out;
  for (const Group& g : groups)
    for (int i = 0; i < g.count; ++i) out.push_back(g.object);
  return out;
}

int object_index(const Object& o) {
  return (static_cast<int>(o.shape) * kColourCount + static_cast<int>(o.colour)) * kSizeCount + static_cast<int>(o.size);
}

void validate(const Scene& scene) {
  const size_t n = scene.groups.size();
  require(n >= 1 && n <= kMaxObjects, "world v2: a scene has 1 to 3 groups, got " + std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    require(scene.groups[i].count >= 1, "world v2: a group's count must be >= 1");
    for (size_t j = 0; j < i; ++j)
      require(!(scene.groups[i].object == scene.groups[j].object),
              std::string("world v2: the scene names the same object twice (") + colour_name(scene.groups[i].object.colour) +
                  " " + shape_name(scene.groups[i].object.shape) + "); say it once with a count");
  }
  require(scene.object_count() <= kMaxObjects,
          "world v2: a scene has at most 3 objects, got " + std::to_string(scene.object_count()));
}

std::string to_prompt(const Scene& scene) {
  validate(scene);
  std::string p;
  const size_t n = scene.groups.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) p += (i + 1 == n) ? " and " : ", ";
    p += group_phrase(scene.groups[i]);
  }
  return p;
}

Scene parse_prompt(const std::string& prompt) {
  Words w(prompt);
  Scene s;
  s.groups.push_back(parse_group(w));
  // Two groups: "X and Y"; three: "X, Y and Z".
  if (w.accept(",")) {
    s.groups.push_back(parse_group(w));
    if (!w.accept("and")) w.fail();
    s.groups.push_back(parse_group(w));
  } else if (w.accept("and")) {
    s.groups.push_back(parse_group(w));
  }
  if (!w.done()) w.fail();
  try {
    validate(s);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("parse_prompt: \"" + prompt + "\": " + e.what());
  }
  return s;
}

Scene canonical(const Scene& scene) {
  Scene c = scene;
  std::stable_sort(c.groups.begin(), c.groups.end(),
                   [](const Group& a, const Group& b) { return object_index(a.object) < object_index(b.object); });
  return c;
}

std::vector<Scene> all_scenes() {
  constexpr int kObjects = kShapeCount * kColourCount * kSizeCount;
  std::vector<Scene> out;
  out.reserve(156848);
  for (int a = 0; a < kObjects; ++a)
    for (int c = 1; c <= kMaxObjects; ++c) out.push_back(Scene{{{object_at(a), c}}});
  for (int a = 0; a < kObjects; ++a)
    for (int b = a + 1; b < kObjects; ++b)
      for (auto [ca, cb] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 2}})
        out.push_back(Scene{{{object_at(a), ca}, {object_at(b), cb}}});
  for (int a = 0; a < kObjects; ++a)
    for (int b = a + 1; b < kObjects; ++b)
      for (int c = b + 1; c < kObjects; ++c) out.push_back(Scene{{{object_at(a), 1}, {object_at(b), 1}, {object_at(c), 1}}});
  return out;
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
  const std::string p = to_prompt(canonical(parse_prompt(prompt)));
  return split_table().at(p);  // every valid scene's canonical prompt is in the table
}

}  // namespace spo::world::v2

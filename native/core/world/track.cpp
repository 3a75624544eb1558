#include "world/track.h"

#include <cctype>
#include <set>

#include "runtime/errors.h"
#include "world/judge.h"
#include "world/renderer.h"
#include "world/v2_judge.h"
#include "world/v2_renderer.h"

namespace spo::world {

namespace {

v2::Split v2_split(Split s) {
  switch (s) {
    case Split::Train: return v2::Split::Train;
    case Split::Validation: return v2::Split::Validation;
    default: return v2::Split::Test;
  }
}

Verdict relations_verdict(const JudgeScore& s) {
  return {s.total,
          {{"total", s.total}, {"alignment", s.alignment}, {"quality", s.quality}, {"colour", s.colour},
           {"shape", s.shape}, {"count", s.count}, {"place", s.place}, {"background", s.background},
           {"edges", s.edges}}};
}

Verdict scenes_verdict(const v2::JudgeScore& s) {
  return {s.total,
          {{"total", s.total}, {"alignment", s.alignment}, {"coarse", s.coarse}, {"fine", s.fine},
           {"colour", s.colour}, {"shape", s.shape}, {"count", s.count}, {"cast", s.cast},
           {"saturation", s.saturation}, {"frame", s.frame}, {"size", s.size}, {"spacing", s.spacing},
           {"sharpness", s.sharpness}, {"smoothness", s.smoothness}, {"grain", s.grain}, {"texture", s.texture}}};
}

}  // namespace

Track track_from_name(const std::string& name) {
  if (name == "relations") return Track::Relations;
  if (name == "scenes") return Track::Scenes;
  throw InvalidArgument("world track must be 'relations' or 'scenes', got '" + name + "'");
}

const char* track_name(Track track) { return track == Track::Relations ? "relations" : "scenes"; }

std::vector<std::string> track_prompts(Track track, Split split) {
  return track == Track::Relations ? split_prompts(split) : v2::split_prompts(v2_split(split));
}

at::Tensor training_render(Track track, const std::string& prompt, int64_t size, uint64_t seed) {
  if (track == Track::Relations) return render(parse_prompt(prompt), size, seed);
  return v2::render_training(v2::parse_prompt(prompt), size, seed).image;
}

TaggedRender tagged_training_render(Track track, const std::string& prompt, int64_t size, uint64_t seed) {
  if (track == Track::Relations) return {render(parse_prompt(prompt), size, seed), {}};
  auto r = v2::render_training(v2::parse_prompt(prompt), size, seed);
  TaggedRender out{r.image, {}};
  for (int d = 0; d < v2::kDefectCount; ++d)
    if (r.defects.on[static_cast<size_t>(d)]) out.defects.push_back(v2::defect_name(static_cast<v2::Defect>(d)));
  return out;
}

double Verdict::part(const std::string& name) const {
  std::string known;
  for (const auto& [key, value] : parts) {
    if (key == name) return value;
    known += (known.empty() ? "" : ", ") + key;
  }
  throw InvalidArgument("judge: no part '" + name + "' (this track has " + known + ")");
}

Verdict judge_prompt(Track track, const at::Tensor& image, const std::string& prompt) {
  if (track == Track::Relations) return relations_verdict(judge(image, parse_prompt(prompt)));
  return scenes_verdict(v2::judge(image, v2::parse_prompt(prompt)));
}

std::vector<std::string> judge_parts(Track track) {
  std::vector<std::string> names;
  const Verdict empty = track == Track::Relations ? relations_verdict(JudgeScore{}) : scenes_verdict(v2::JudgeScore{});
  for (const auto& [key, value] : empty.parts) names.push_back(key);
  return names;
}

std::vector<std::string> track_words(Track track) {
  std::set<std::string> words;
  auto add_words = [&](const std::string& prompt) {
    std::string word;
    for (char c : prompt + " ") {
      if (std::isalpha(static_cast<unsigned char>(c))) word += c;
      else if (!word.empty()) words.insert(word), word.clear();
    }
  };
  if (track == Track::Relations) {
    for (const auto& scene : all_scenes()) add_words(to_prompt(scene));
  } else {
    for (const auto& scene : v2::all_scenes()) add_words(v2::to_prompt(scene));
  }
  return {words.begin(), words.end()};
}

}  // namespace spo::world

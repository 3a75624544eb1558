// The shapes world's two tracks behind one interface, so pretraining, the
// judge bindings and the demo run either without knowing which:
//   relations  one or two objects with positions and relations, clean training
//              renders, today's judge (prompt_grammar.h, judge.h; the shipped models)
//   scenes     world v2: one to three objects by shape, colour, size and count,
//              training renders that carry coarse and fine defects, judge v2
//              (v2_prompts.h, v2_renderer.h, v2_judge.h)
// docs/SHAPES_WORLD.md describes both.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "world/prompt_grammar.h"

namespace spo::world {

enum class Track { Relations, Scenes };

// "relations" / "scenes"; InvalidArgument naming the two for anything else.
Track track_from_name(const std::string& name);
const char* track_name(Track track);

// The track's fixed split, in its grammar's order.
std::vector<std::string> track_prompts(Track track, Split split);

// A pretraining image of `prompt`, float [3, size, size] in [-1, 1]: the clean
// render (relations) or a render with defects drawn at the default rates
// (scenes). Deterministic in (prompt, size, seed). InvalidArgument for a
// prompt the track's grammar cannot read.
at::Tensor training_render(Track track, const std::string& prompt, int64_t size, uint64_t seed);

// The same image with the names of the defects it carries (v2::defect_name, in
// the defects' enum order; none for relations or a clean render), for
// captions that name them (pretraining/defect_captions.h).
struct TaggedRender {
  at::Tensor image;
  std::vector<std::string> defects;
};
TaggedRender tagged_training_render(Track track, const std::string& prompt, int64_t size, uint64_t seed);

// The judge's reading of an image against a prompt: the total in [0, 1] and
// every part by name, in a fixed order per track (total first).
struct Verdict {
  double total = 0;
  std::vector<std::pair<std::string, double>> parts;
  // The named part; InvalidArgument listing the track's parts when absent.
  double part(const std::string& name) const;
};
Verdict judge_prompt(Track track, const at::Tensor& image, const std::string& prompt);

// The parts judge_prompt reports for a track, in its order.
std::vector<std::string> judge_parts(Track track);

// Every word the track's prompts use (letters only, punctuation dropped), sorted.
std::vector<std::string> track_words(Track track);

}  // namespace spo::world

// The shapes world's CLIP tokenizer files: GPT-2 byte-level symbols plus one
// merge chain per grammar word, so every word the grammar can say is a short
// run of tokens (usually one) and any other text still tokenizes byte by byte.
#pragma once
#include <string>
#include <vector>

#include "world/track.h"

namespace spo::pretraining {

inline constexpr const char* kWorldBos = "<|startoftext|>";
inline constexpr const char* kWorldEos = "<|endoftext|>";

// Every word of every prompt of the track, sorted (world::track_words).
std::vector<std::string> world_words(world::Track track = world::Track::Relations);

struct WorldVocabulary {
  std::vector<std::string> tokens;                          // id order
  std::vector<std::pair<std::string, std::string>> merges;  // rank order
  int64_t bos_id = 0, eos_id = 0;
};
// `caption_words`: also the defect caption words (defect_captions.h), after the
// prompt words, so every prompt token keeps its id; the evaluator of the scenes
// world reads them, the base model's text encoder never does.
WorldVocabulary world_vocabulary(world::Track track = world::Track::Relations, bool caption_words = false);

// vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json in
// `dir` (created), each written atomically; what the hub's SD-1.5 tokenizer has.
void write_world_tokenizer(const std::string& dir, world::Track track = world::Track::Relations,
                           bool caption_words = false);

// Whether a track's evaluator reads defect captions: scenes yes, relations no
// (its shipped models stay as they are).
inline bool evaluator_caption_words(world::Track track) { return track == world::Track::Scenes; }

}  // namespace spo::pretraining

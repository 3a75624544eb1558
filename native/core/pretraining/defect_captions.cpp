#include "pretraining/defect_captions.h"

#include <array>
#include <utility>

#include "pretraining/world_dataset.h"
#include "runtime/errors.h"

namespace spo::pretraining {
namespace {

// One word each (one token in the evaluator's vocabulary), in world::v2::Defect order.
constexpr std::array<std::pair<const char*, const char*>, 11> kWords{{
    {"colour-cast", "tinted"},
    {"desaturation", "faded"},
    {"cut-by-border", "cropped"},
    {"wrong-size", "misscaled"},
    {"merged", "merged"},
    {"missing-object", "incomplete"},
    {"extra-object", "cluttered"},
    {"blur", "blurry"},
    {"grain", "grainy"},
    {"jagged", "jagged"},
    {"texture", "textured"},
}};

}  // namespace

const char* defect_caption_word(const std::string& defect) {
  for (const auto& [name, word] : kWords)
    if (defect == name) return word;
  throw InvalidArgument("defect captions: no defect '" + defect + "'");
}

std::vector<std::string> defect_caption_words() {
  std::vector<std::string> words;
  for (const auto& [name, word] : kWords) words.emplace_back(word);
  return words;
}

std::string caption_with_defects(const std::string& prompt, const std::vector<std::string>& defects) {
  std::string caption = prompt;
  for (const auto& d : defects) caption += std::string(", ") + defect_caption_word(d);
  return caption;
}

bool names_defects(double share, uint64_t seed, int64_t step, uint64_t draw) {
  if (share <= 0) return false;
  if (share >= 1) return true;
  const uint64_t z = mix_seed(seed ^ 0xCA97104Dull, static_cast<uint64_t>(step), draw);
  return static_cast<double>(z >> 11) * 0x1.0p-53 < share;
}

}  // namespace spo::pretraining

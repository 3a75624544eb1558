// Captions that name what a training render got wrong: the world's stand-in
// for web captions that mention quality ("a red circle, blurry, grainy").
// Contrastive CLIP pretraining on prompts alone never sees a word for a
// defect, so its image tower has no reason to tell a clean render from a
// blurred one; naming the defects in some captions gives it one. Only the
// evaluator's CLIP reads these words: generation prompts stay defect-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace spo::pretraining {

// The caption word of a world v2 defect by its name (world::v2::defect_name):
// "blur" -> "blurry", "colour-cast" -> "tinted", ...; InvalidArgument for an unknown name.
const char* defect_caption_word(const std::string& defect);

// Every caption word, in the defects' enum order (the tokenizer adds them).
std::vector<std::string> defect_caption_words();

// `prompt` followed by ", <word>" for each defect, in the order given.
std::string caption_with_defects(const std::string& prompt, const std::vector<std::string>& defects);

// Whether the caption of draw `draw` at step `step` names its render's defects:
// true with probability `share`, from a stream of its own (seed, step, draw).
bool names_defects(double share, uint64_t seed, int64_t step, uint64_t draw);

}  // namespace spo::pretraining

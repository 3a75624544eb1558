#include "pretraining/world_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/atomic_write.h"
#include "pretraining/defect_captions.h"
#include "text/byte_level.h"

namespace spo::pretraining {

std::vector<std::string> world_words(world::Track track) { return world::track_words(track); }

WorldVocabulary world_vocabulary(world::Track track, bool caption_words) {
  WorldVocabulary v;
  std::map<std::string, int64_t> ids;
  auto add = [&](const std::string& token) {
    if (ids.emplace(token, static_cast<int64_t>(v.tokens.size())).second) v.tokens.push_back(token);
  };
  for (int b = 0; b < 256; ++b) add(text::byte_level_char(static_cast<unsigned char>(b)));
  for (int b = 0; b < 256; ++b) add(text::byte_level_char(static_cast<unsigned char>(b)) + "</w>");
  // Left-to-right merges: "c i" -> "ci", "ci r" -> "cir", ..., "circl e</w>" -> "circle</w>".
  std::set<std::pair<std::string, std::string>> seen;
  auto words = world_words(track);
  if (caption_words)
    for (const auto& w : defect_caption_words())
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
  for (const auto& word : words) {
    std::vector<std::string> symbols;
    for (unsigned char c : word) symbols.push_back(text::byte_level_char(c));
    symbols.back() += "</w>";
    std::string current = symbols[0];
    for (size_t i = 1; i < symbols.size(); ++i) {
      std::pair<std::string, std::string> merge{current, symbols[i]};
      current += symbols[i];
      if (seen.insert(merge).second) {
        v.merges.push_back(merge);
        add(current);
      }
    }
  }
  add(kWorldBos);
  add(kWorldEos);
  v.bos_id = ids.at(kWorldBos);
  v.eos_id = ids.at(kWorldEos);
  return v;
}

void write_world_tokenizer(const std::string& dir, world::Track track, bool caption_words) {
  std::filesystem::create_directories(dir);
  const auto v = world_vocabulary(track, caption_words);
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = static_cast<int64_t>(i);
  io::write_file_atomic(dir + "/vocab.json", vocab.dump());
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : v.merges) merges += a + " " + b + "\n";
  io::write_file_atomic(dir + "/merges.txt", merges);

  auto added = [](const char* content) {
    return nlohmann::ordered_json{{"content", content}, {"lstrip", false}, {"normalized", true},
                                  {"rstrip", false},    {"single_word", false}, {"special", true}};
  };
  nlohmann::ordered_json config{
      {"add_prefix_space", false},
      {"added_tokens_decoder",
       {{std::to_string(v.bos_id), added(kWorldBos)}, {std::to_string(v.eos_id), added(kWorldEos)}}},
      {"bos_token", kWorldBos},
      {"clean_up_tokenization_spaces", true},
      {"do_lower_case", true},
      {"eos_token", kWorldEos},
      {"errors", "replace"},
      {"model_max_length", 77},
      {"pad_token", kWorldEos},
      {"tokenizer_class", "CLIPTokenizer"},
      {"unk_token", kWorldEos}};
  io::write_file_atomic(dir + "/tokenizer_config.json", config.dump(2));
  auto special = [](const char* content) {
    return nlohmann::ordered_json{{"content", content}, {"lstrip", false}, {"normalized", true},
                                  {"rstrip", false},    {"single_word", false}};
  };
  nlohmann::ordered_json map{{"bos_token", special(kWorldBos)},
                             {"eos_token", special(kWorldEos)},
                             {"pad_token", kWorldEos},
                             {"unk_token", special(kWorldEos)}};
  io::write_file_atomic(dir + "/special_tokens_map.json", map.dump(2));
}

}  // namespace spo::pretraining

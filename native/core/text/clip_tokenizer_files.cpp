#include "text/clip_tokenizer_files.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/json_bounded.h"
#include "runtime/errors.h"

namespace spo::text {
namespace {

// Checked before reading: a tokenizer from a stranger must not exhaust memory.
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t(64) << 20;

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(ErrorCode::NotFound, "tokenizer file not found: " + path);
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  require(!ec && size <= kMaxFileBytes, path + ": tokenizer files must be at most 64 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::NotFound, "cannot open tokenizer file: " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
  try {
    return io::parse_json_bounded(text, what);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(what + ": malformed JSON: " + e.what());
  }
}

std::optional<nlohmann::json> parse_json_object_if_present(const std::string* text, const std::string& what) {
  if (text == nullptr) return std::nullopt;
  nlohmann::json j = parse_json(*text, what);
  require(j.is_object(), what + ": expected a JSON object");
  return j;
}

std::optional<std::string> read_file_if_present(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  return read_file(path);
}

// A token field: "text" or {"content": "text", "normalized": ...}.
std::optional<AddedToken> token_field(const nlohmann::json& j, const std::string& key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return AddedToken{it->get<std::string>(), false};
  require(it->is_object() && it->contains("content") && (*it)["content"].is_string(),
          path + ": \"" + key + "\" must be a string or an object with a string \"content\"");
  const auto normalized = it->find("normalized");
  require(normalized == it->end() || normalized->is_boolean(), path + ": \"" + key + ".normalized\" must be a boolean");
  return AddedToken{(*it)["content"].get<std::string>(), normalized != it->end() && normalized->get<bool>()};
}

}  // namespace

std::unordered_map<std::string, std::int64_t> read_vocab_json(const std::string& path) {
  return parse_vocab_json(read_file(path), path);
}

std::unordered_map<std::string, std::int64_t> parse_vocab_json(const std::string& text, const std::string& path) {
  const nlohmann::json j = parse_json(text, path);
  require(j.is_object() && !j.empty(), path + ": expected a non-empty JSON object of token -> id");
  std::unordered_map<std::string, std::int64_t> vocab;
  vocab.reserve(j.size());
  for (const auto& [token, id] : j.items()) {
    require(id.is_number_integer(), path + ": the id of \"" + token + "\" is not an integer");
    vocab.emplace(token, id.get<std::int64_t>());
  }
  return vocab;
}

std::vector<BpeMerge> read_merges_txt(const std::string& path) { return parse_merges_txt(read_file(path), path); }

std::vector<BpeMerge> parse_merges_txt(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::vector<BpeMerge> merges;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#version", 0) == 0) continue;
    const std::size_t space = line.find(' ');
    const bool two_tokens = space != std::string::npos && space > 0 && space + 1 < line.size() &&
                            line.find(' ', space + 1) == std::string::npos;
    require(two_tokens, path + " line " + std::to_string(line_number) +
                            ": expected two tokens separated by one space, got \"" + line + "\"");
    merges.push_back(BpeMerge{line.substr(0, space), line.substr(space + 1), line_number});
  }
  return merges;
}

ClipTokenizerOptions read_tokenizer_options(const std::string& dir) {
  const std::string config_path = dir + "/tokenizer_config.json";
  const std::string map_path = dir + "/special_tokens_map.json";
  const auto config = read_file_if_present(config_path);
  const auto special_map = read_file_if_present(map_path);
  return parse_tokenizer_options(config ? &*config : nullptr, config_path, special_map ? &*special_map : nullptr,
                                 map_path);
}

ClipTokenizerOptions parse_tokenizer_options(const std::string* config_text, const std::string& config_path,
                                             const std::string* special_map_text, const std::string& map_path) {
  const auto config = parse_json_object_if_present(config_text, config_path);
  const auto special_map = parse_json_object_if_present(special_map_text, map_path);

  ClipTokenizerOptions options;
  // special_tokens_map.json wins over tokenizer_config.json, key by key.
  std::vector<AddedToken> declared;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    std::optional<AddedToken> token;
    if (special_map) token = token_field(*special_map, key, map_path);
    if (!token && config) token = token_field(*config, key, config_path);
    if (!token) continue;
    const std::string k = key;
    (k == "bos_token" ? options.bos_token : k == "eos_token" ? options.eos_token
     : k == "unk_token" ? options.unk_token : options.pad_token) = token->content;
    declared.push_back(*token);
  }
  for (const AddedToken& token : declared) {  // later declarations win
    bool replaced = false;
    for (AddedToken& t : options.added_tokens) {
      if (t.content == token.content) t.normalized = token.normalized, replaced = true;
    }
    if (!replaced) options.added_tokens.push_back(token);
  }

  if (config) {
    auto length = config->find("model_max_length");
    // Configs without a real limit store a huge float; keep CLIP's 77 then.
    if (length != config->end() && length->is_number_integer() && length->get<std::int64_t>() >= 2 &&
        length->get<std::int64_t>() <= 1'000'000) {
      options.model_max_length = length->get<std::int64_t>();
    }
    auto decoder = config->find("added_tokens_decoder");
    if (decoder != config->end()) {
      require(decoder->is_object(), config_path + ": \"added_tokens_decoder\" must be an object");
      options.added_tokens.clear();
      for (const auto& [id, entry] : decoder->items()) {
        auto token = token_field(*decoder, id, config_path);
        require(token.has_value(), config_path + ": added_tokens_decoder[" + id + "] is null");
        options.added_tokens.push_back(*token);
      }
    }
  }
  return options;
}

}  // namespace spo::text

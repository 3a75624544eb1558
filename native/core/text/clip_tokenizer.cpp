#include "text/clip_tokenizer.h"

#include <algorithm>

#include "runtime/errors.h"
#include "text/clip_pre_tokenizer.h"
#include "text/utf8.h"

namespace spo::text {
namespace {

struct Match {
  std::size_t pos, length;
  std::int64_t id;
};

// Leftmost-longest match of any token at or after `from`, as tokenizers'
// added-vocabulary matcher does.
template <typename Token>
bool find_special(const std::u32string& text, std::size_t from, const std::vector<Token>& tokens, Match& match) {
  for (std::size_t pos = from; pos < text.size(); ++pos) {
    bool found = false;
    for (const Token& t : tokens) {
      if (!t.text.empty() && text.compare(pos, t.text.size(), t.text) == 0 && (!found || t.text.size() > match.length)) {
        match = Match{pos, t.text.size(), t.id};
        found = true;
      }
    }
    if (found) return true;
  }
  return false;
}

// Calls on_text for the text between tokens and on_token for each token id.
template <typename Token, typename OnText, typename OnToken>
void split_on_specials(const std::u32string& text, const std::vector<Token>& tokens, OnText on_text,
                       OnToken on_token) {
  std::size_t pos = 0;
  Match match{};
  while (find_special(text, pos, tokens, match)) {
    if (match.pos > pos) on_text(text.substr(pos, match.pos - pos));
    on_token(match.id);
    pos = match.pos + match.length;
  }
  if (pos < text.size()) on_text(text.substr(pos));
}

}  // namespace

ClipTokenizer ClipTokenizer::from_directory(const std::string& dir) {
  return from_files(dir + "/vocab.json", dir + "/merges.txt", read_tokenizer_options(dir));
}

ClipTokenizer ClipTokenizer::from_files(const std::string& vocab_json, const std::string& merges_txt,
                                        const ClipTokenizerOptions& options) {
  auto vocab = read_vocab_json(vocab_json);  // vocab first: errors name the files in order
  auto merges = read_merges_txt(merges_txt);
  return from_parsed(std::move(vocab), merges, options, merges_txt);
}

ClipTokenizer ClipTokenizer::from_parsed(std::unordered_map<std::string, std::int64_t> vocab,
                                         const std::vector<BpeMerge>& merges, const ClipTokenizerOptions& options,
                                         const std::string& merges_source) {
  ClipTokenizer tokenizer;
  tokenizer.model_ = std::make_shared<const BpeModel>(std::move(vocab), merges, options.unk_token, merges_source);
  tokenizer.bos_id_ = tokenizer.id_of(options.bos_token, "bos_token");
  tokenizer.eos_id_ = tokenizer.id_of(options.eos_token, "eos_token");
  tokenizer.pad_id_ = tokenizer.id_of(options.pad_token, "pad_token");
  require(options.model_max_length >= 2, "model_max_length must be at least 2 (BOS and EOS)");
  tokenizer.model_max_length_ = options.model_max_length;

  std::vector<AddedToken> added = options.added_tokens;
  if (added.empty()) {
    for (const std::string* t : {&options.bos_token, &options.eos_token, &options.unk_token, &options.pad_token}) {
      added.push_back(AddedToken{*t, false});
    }
  }
  for (const AddedToken& token : added) {
    const std::int64_t id = tokenizer.id_of(token.content, "added token");
    const std::u32string text = decode_utf8(token.content, "added token \"" + token.content + "\"");
    if (token.normalized) {
      tokenizer.normalized_specials_.push_back(SpecialToken{normalize_clip_text(text), id});
    } else {
      tokenizer.raw_specials_.push_back(SpecialToken{text, id});
    }
  }
  return tokenizer;
}

std::int64_t ClipTokenizer::id_of(const std::string& token, const std::string& role) const {
  auto it = model_->vocab().find(token);
  require(it != model_->vocab().end(), role + " \"" + token + "\" is not in the vocabulary");
  return it->second;
}

void ClipTokenizer::encode_normalized_segment(const std::u32string& segment, std::vector<std::int64_t>& out) const {
  for (const std::u32string& word : split_clip_words(segment)) model_->encode_word(word, out);
}

void ClipTokenizer::encode_raw_segment(const std::u32string& segment, std::vector<std::int64_t>& out) const {
  split_on_specials(
      normalize_clip_text(segment), normalized_specials_,
      [&](const std::u32string& text) { encode_normalized_segment(text, out); },
      [&](std::int64_t id) { out.push_back(id); });
}

std::vector<std::int64_t> ClipTokenizer::encode(const std::string& text) const {
  const std::u32string code_points = decode_utf8(text, "prompt");
  std::vector<std::int64_t> ids;
  split_on_specials(
      code_points, raw_specials_, [&](const std::u32string& segment) { encode_raw_segment(segment, ids); },
      [&](std::int64_t id) { ids.push_back(id); });
  return ids;
}

std::vector<std::int64_t> ClipTokenizer::encode_padded(const std::string& text, std::int64_t max_length) const {
  require(max_length >= 2, "max_length must be at least 2 (BOS and EOS), got " + std::to_string(max_length));
  std::vector<std::int64_t> ids = encode(text);
  const std::size_t room = static_cast<std::size_t>(max_length - 2);
  if (ids.size() > room) ids.resize(room);  // truncation keeps BOS first and EOS last
  std::vector<std::int64_t> padded;
  padded.reserve(static_cast<std::size_t>(max_length));
  padded.push_back(bos_id_);
  padded.insert(padded.end(), ids.begin(), ids.end());
  padded.push_back(eos_id_);
  padded.resize(static_cast<std::size_t>(max_length), pad_id_);
  return padded;
}

at::Tensor ClipTokenizer::encode_batch(const std::vector<std::string>& texts, std::int64_t max_length) const {
  require(max_length >= 2, "max_length must be at least 2 (BOS and EOS), got " + std::to_string(max_length));
  at::Tensor ids = at::empty({static_cast<std::int64_t>(texts.size()), max_length}, at::kLong);
  auto rows = ids.accessor<std::int64_t, 2>();
  for (std::size_t b = 0; b < texts.size(); ++b) {
    const std::vector<std::int64_t> row = encode_padded(texts[b], max_length);
    for (std::int64_t t = 0; t < max_length; ++t) rows[static_cast<std::int64_t>(b)][t] = row[static_cast<std::size_t>(t)];
  }
  return ids;
}

}  // namespace spo::text

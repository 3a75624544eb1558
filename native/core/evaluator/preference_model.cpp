#include "evaluator/preference_model.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "evaluator/clip_preprocess.h"
#include "evaluator/distinct_prompts.h"
#include "io/atomic_write.h"
#include "io/safetensors.h"
#include "runtime/errors.h"

namespace spo::evaluator {

namespace fs = std::filesystem;

std::shared_ptr<PreferenceModel> PreferenceModel::load(const std::string& dir, const PreferenceModelOptions& options) {
  models::ClipModelLoadOptions load_options;
  load_options.time_conditioning = options.time_conditioning;
  load_options.init_seed = options.init_seed;
  auto model = models::load_clip_model(dir, at::TensorOptions().device(options.device).dtype(options.dtype),
                                       load_options);
  auto tokenizer = text::ClipTokenizer::from_directory(dir);
  require(tokenizer.vocab_size() <= model->config.text.vocab_size,
          "the tokenizer in " + dir + " has " + std::to_string(tokenizer.vocab_size()) +
              " tokens but the text model only " + std::to_string(model->config.text.vocab_size));
  model->eval();
  return std::shared_ptr<PreferenceModel>(new PreferenceModel(dir, options, std::move(model), std::move(tokenizer)));
}

at::Tensor PreferenceModel::tokenize(const std::vector<std::string>& prompts) const {
  require(!prompts.empty(), "preference model: no prompts given");
  return tokenizer_.encode_batch(prompts, std::min<int64_t>(77, model_->config.text.max_position_embeddings));
}

at::Tensor checked_timesteps(const at::Tensor& timesteps, int64_t batch, const std::string& what) {
  require(timesteps.defined(), what + ": timesteps are missing");
  auto t = timesteps.to(at::kCPU);
  if (t.dim() == 0) t = t.reshape({1}).expand({batch});
  require(t.dim() == 1 && t.size(0) == batch,
          what + ": timesteps must be one per image (" + std::to_string(batch) + "), got " + c10::str(t.sizes()));
  if (at::isFloatingType(t.scalar_type())) {
    require(at::isfinite(t).all().item<bool>(), what + ": timesteps must be finite");
    require(at::equal(t, t.round()), what + ": timesteps must be whole numbers");
  }
  t = t.to(at::kLong);
  if (batch > 0) {
    auto [lo, hi] = at::aminmax(t);
    require(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < 1000,
            what + ": timesteps must be in [0, 1000), got [" + std::to_string(lo.item<int64_t>()) + ", " +
                std::to_string(hi.item<int64_t>()) + "]");
  }
  return t.contiguous();
}

at::Tensor PreferenceModel::score_pixels(const at::Tensor& pixels, const at::Tensor& input_ids,
                                         const at::Tensor& timesteps) {
  const auto device = options_.device;
  auto image = model_->image_features(pixels.to(device, options_.dtype), timesteps.to(device));
  auto text = model_->text_features(input_ids.to(device));
  return model_->scores(image, text);
}

at::Tensor PreferenceModel::score_images(const at::Tensor& images, const std::vector<std::string>& prompts,
                                         const at::Tensor& timesteps, int64_t max_batch) {
  require(images.defined() && images.dim() == 4, "score: images must be [batch, 3, height, width]");
  const int64_t b = images.size(0);
  require(static_cast<int64_t>(prompts.size()) == b, "score: " + std::to_string(b) + " images but " +
                                                         std::to_string(prompts.size()) + " prompts");
  require(max_batch >= 0, "score: maxBatch must be >= 0");
  require(at::isfinite(images).all().item<bool>(), "score: images hold NaN or infinite values");
  const auto t = checked_timesteps(timesteps, b, "score");
  at::NoGradGuard no_grad;
  const int64_t chunk = max_batch > 0 ? max_batch : b;
  const auto device = options_.device;
  // The k candidates of a prompt share its text: the text tower runs once per distinct prompt
  // (a sampling round scores P prompts x k candidates), each row then takes its prompt's features.
  const auto [distinct, row_of] = distinct_prompts(prompts);
  const auto ids = tokenize(distinct);
  std::vector<at::Tensor> text_parts;
  for (int64_t start = 0; start < ids.size(0); start += chunk)
    text_parts.push_back(model_->text_features(ids.slice(0, start, std::min(ids.size(0), start + chunk)).to(device)));
  const auto text = at::cat(text_parts).index_select(0, at::tensor(row_of, at::kLong).to(device));
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < b; start += chunk) {
    const int64_t end = std::min(b, start + chunk);
    auto pixels = clip_preprocess(images.slice(0, start, end), image_size());
    auto image = model_->image_features(pixels.to(device, options_.dtype), t.slice(0, start, end).to(device));
    parts.push_back(model_->scores(image, text.slice(0, start, end)).to(at::kCPU));
  }
  return at::cat(parts);
}

void PreferenceModel::save(const std::string& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InvalidArgument("cannot create the directory " + dir + ": " + ec.message());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : model_->named_parameters(true)) tensors.emplace_back(p.key(), p.value().detach());
  io::save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  io::write_file_atomic(dir + "/config.json", model_->config.to_json().dump(2) + "\n");
  // The tokenizer and processor files travel with the weights, so the directory stands alone.
  if (fs::equivalent(fs::path(dir), fs::path(dir_), ec)) return;
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                           "tokenizer.json", "preprocessor_config.json"}) {
    const fs::path from = fs::path(dir_) / name;
    if (!fs::exists(from)) continue;
    std::ifstream in(from, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    io::write_file_atomic((fs::path(dir) / name).string(), content.str());
  }
}

}  // namespace spo::evaluator

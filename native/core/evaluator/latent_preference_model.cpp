#include "evaluator/latent_preference_model.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "evaluator/distinct_prompts.h"
#include "evaluator/preference_model.h"
#include "io/atomic_write.h"
#include "io/json_file.h"
#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/clip_model_loading.h"
#include "models/weight_init.h"
#include "runtime/errors.h"

namespace spo::evaluator {

namespace fs = std::filesystem;

nlohmann::json LatentNetConfig::to_json() const {
  return {{"latent_channels", latent_channels}, {"width", width},           {"blocks", blocks},
          {"blocks_per_level", blocks_per_level}, {"groups", groups},       {"time_frequency_dim", time_frequency_dim},
          {"text_dim", text_dim}};
}

LatentNetConfig LatentNetConfig::from_json(const nlohmann::json& j, const std::string& what) {
  require(j.is_object(), what + ": \"latent_net\" must be an object");
  LatentNetConfig c;
  c.latent_channels = io::json_int(j, "latent_channels", c.latent_channels, what + " latent_channels", 1, 64);
  c.width = io::json_int(j, "width", c.width, what + " width", 1, 4096);
  c.blocks = io::json_int(j, "blocks", c.blocks, what + " blocks", 0, 64);
  c.blocks_per_level = io::json_int(j, "blocks_per_level", c.blocks_per_level, what + " blocks_per_level", 1, 64);
  c.groups = io::json_int(j, "groups", c.groups, what + " groups", 1, 4096);
  c.time_frequency_dim = io::json_int(j, "time_frequency_dim", c.time_frequency_dim, what + " time_frequency_dim", 2, 4096);
  c.text_dim = io::json_int(j, "text_dim", 0, what + " text_dim", 1, 65536);
  require(c.width % c.groups == 0, what + ": width " + std::to_string(c.width) + " must be a multiple of groups " +
                                       std::to_string(c.groups));
  return c;
}

LatentBlockImpl::LatentBlockImpl(int64_t width, int64_t groups, const at::TensorOptions& o) {
  norm1 = register_module("norm1", models::GroupNorm(groups, width, 1e-5, true, o));
  conv1 = register_module("conv1", models::Conv2d(width, width, 3, 1, 1, true, o));
  norm2 = register_module("norm2", models::GroupNorm(groups, width, 1e-5, true, o));
  conv2 = register_module("conv2", models::Conv2d(width, width, 3, 1, 1, true, o));
  modulation = register_module("modulation", models::AdaLnModulation(width, 2, o));
}

at::Tensor LatentBlockImpl::forward(const at::Tensor& x, const at::Tensor& cond) {
  auto mod = modulation(cond);  // shift, scale: [B, W] each
  auto h = norm1(x) * (1 + mod[1].unsqueeze(-1).unsqueeze(-1)) + mod[0].unsqueeze(-1).unsqueeze(-1);
  h = conv1(at::silu(h));
  h = conv2(at::silu(norm2(h)));
  return x + h;
}

LatentScoreNetImpl::LatentScoreNetImpl(const LatentNetConfig& c, const at::TensorOptions& o) : config(c) {
  require(c.text_dim >= 1, "latent evaluator: text_dim must be set from the text tower");
  stem = register_module("stem", models::Conv2d(c.latent_channels, c.width, 3, 1, 1, true, o));
  t_embedder = register_module("t_embedder", models::TimestepEmbedder(c.width, c.time_frequency_dim, o));
  text_in = register_module("text_in", models::Linear(c.text_dim, c.width, true, o));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.blocks; ++i) blocks->push_back(LatentBlock(c.width, c.groups, o));
  norm_out = register_module("norm_out", models::GroupNorm(c.groups, c.width, 1e-5, true, o));
  head = register_module("head", models::Linear(c.width, 1, true, o));
}

at::Tensor LatentScoreNetImpl::forward(const at::Tensor& latents, const at::Tensor& timesteps, const at::Tensor& text) {
  const auto dtype = stem->weight.scalar_type();
  const auto device = stem->weight.device();
  auto cond = t_embedder(timesteps.to(device)) + text_in(text.to(device, dtype));
  auto x = stem(latents.to(device, dtype));
  int64_t i = 0;
  for (const auto& block : *blocks) {
    x = block->as<LatentBlockImpl>()->forward(x, cond);
    // Pool while the map is larger than 1x1: coarser levels see the whole layout.
    if (++i % config.blocks_per_level == 0 && i < config.blocks && x.size(2) > 1 && x.size(3) > 1)
      x = at::avg_pool2d(x, 2, 2, 0, /*ceil_mode=*/true);
  }
  auto pooled = at::silu(norm_out(x)).mean({2, 3});
  return head(pooled).squeeze(-1).to(at::kFloat);
}

void LatentScoreNetImpl::initialise(uint64_t seed) {
  models::initialise_weights(*this, seed);
  t_embedder->initialise(seed + 1);
  for (const auto& block : *blocks) block->as<LatentBlockImpl>()->modulation->initialise_constant({});
}

LatentPreferenceModel::LatentPreferenceModel(std::string dir, LatentPreferenceModelOptions options,
                                             nlohmann::json text_config_source, const LatentNetConfig& net_config,
                                             text::ClipTokenizer tokenizer)
    : dir_(std::move(dir)),
      options_(options),
      text_config_source_(std::move(text_config_source)),
      text_config_(models::ClipTextConfig::from_json(text_config_source_, "latent evaluator text_config")),
      tokenizer_(std::move(tokenizer)) {
  const auto o = at::TensorOptions().device(options_.device).dtype(at::kFloat);
  holder_ = std::make_shared<torch::nn::Module>();
  text_model = holder_->register_module("text_model", models::ClipTextTransformer(text_config_, o));
  text_projection =
      holder_->register_module("text_projection", models::Linear(text_config_.hidden_size, net_config.text_dim, false, o));
  net_ = holder_->register_module("net", LatentScoreNet(net_config, o));
  // The text tower is frozen: the pixel model's training already fitted it to these prompts.
  for (auto& p : text_model->parameters()) p.set_requires_grad(false);
  for (auto& p : text_projection->parameters()) p.set_requires_grad(false);
  holder_->eval();
}

namespace {

void copy_tokenizer_files(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (fs::equivalent(fs::path(from), fs::path(to), ec)) return;
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                           "tokenizer.json"}) {
    const fs::path src = fs::path(from) / name;
    if (!fs::exists(src)) continue;
    std::ifstream in(src, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    io::write_file_atomic((fs::path(to) / name).string(), content.str());
  }
}

}  // namespace

bool LatentPreferenceModel::is_latent_folder(const std::string& dir) {
  const auto path = fs::path(dir) / "config.json";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  const auto j = io::read_json(path.string());
  return j.contains("spo_evaluator_kind") && j["spo_evaluator_kind"].is_string() &&
         j["spo_evaluator_kind"].get<std::string>() == kLatentEvaluatorKind;
}

std::shared_ptr<LatentPreferenceModel> LatentPreferenceModel::load(const std::string& dir,
                                                                   const LatentPreferenceModelOptions& options) {
  const std::string what = dir + "/config.json";
  const auto j = io::read_json(what);
  const auto kind = io::json_string(j, "spo_evaluator_kind", "", what);
  require(kind == kLatentEvaluatorKind, what + ": spo_evaluator_kind is \"" + kind + "\", not \"" +
                                            kLatentEvaluatorKind + "\" (a pixel evaluator loads with Evaluator.load)");
  require(j.contains("text_config") && j["text_config"].is_object(), what + ": \"text_config\" must be an object");
  require(j.contains("latent_net"), what + ": \"latent_net\" is missing");
  const auto text_config = models::ClipTextConfig::from_json(j["text_config"], what + " text_config");
  auto net_config = LatentNetConfig::from_json(j["latent_net"], what + " latent_net");
  auto tokenizer = text::ClipTokenizer::from_directory(dir);
  require(tokenizer.vocab_size() <= text_config.vocab_size,
          "the tokenizer in " + dir + " has more tokens than the text tower's " + std::to_string(text_config.vocab_size));
  std::shared_ptr<LatentPreferenceModel> model(
      new LatentPreferenceModel(dir, options, j["text_config"], net_config, std::move(tokenizer)));
  io::load_module_weights(*model->holder_, io::open_component_weights(dir));
  return model;
}

std::shared_ptr<LatentPreferenceModel> LatentPreferenceModel::create(const std::string& text_from, LatentNetConfig config,
                                                                     uint64_t seed,
                                                                     const LatentPreferenceModelOptions& options) {
  require(config.width >= 1 && config.blocks >= 0 && config.blocks_per_level >= 1 && config.groups >= 1 &&
              config.width % config.groups == 0 && config.latent_channels >= 1,
          "latent evaluator: width must be a positive multiple of groups, blocks >= 0, latentChannels >= 1");
  auto clip = models::load_clip_model(text_from, at::TensorOptions().dtype(at::kFloat));
  config.text_dim = clip->config.projection_dim;
  auto tokenizer = text::ClipTokenizer::from_directory(text_from);
  std::shared_ptr<LatentPreferenceModel> model(
      new LatentPreferenceModel(text_from, options, clip->config.source.value("text_config", nlohmann::json::object()),
                                config, std::move(tokenizer)));
  at::NoGradGuard no_grad;
  // The text tower and its projection, copied weight by weight from the pixel model.
  auto from = clip->named_parameters(true);
  for (auto& p : model->holder_->named_parameters(true)) {
    if (p.key().rfind("net.", 0) == 0) continue;
    p.value().copy_(from[p.key()]);
  }
  model->net_->initialise(seed);
  return model;
}

at::Tensor LatentPreferenceModel::text_features(const std::vector<std::string>& prompts) {
  require(!prompts.empty(), "latent evaluator: no prompts given");
  at::NoGradGuard no_grad;
  const auto [distinct, row_of] = distinct_prompts(prompts);
  const auto ids = tokenizer_.encode_batch(distinct, std::min<int64_t>(77, text_config_.max_position_embeddings));
  auto feats = text_projection(text_model(ids.to(options_.device)).pooled);
  return feats.index_select(0, at::tensor(row_of, at::kLong).to(feats.device()));
}

at::Tensor LatentPreferenceModel::score_latents(const at::Tensor& latents, const at::Tensor& timesteps,
                                                const at::Tensor& text) {
  return net_(latents, timesteps, text);
}

at::Tensor LatentPreferenceModel::score(const at::Tensor& latents, const std::vector<std::string>& prompts,
                                        const at::Tensor& timesteps, int64_t max_batch) {
  const int64_t c = net_->config.latent_channels;
  require(latents.defined() && latents.dim() == 4 && latents.size(1) == c,
          "latent evaluator: latents must be [batch, " + std::to_string(c) + ", h, w], got " +
              (latents.defined() ? c10::str(latents.sizes()) : std::string("undefined")));
  const int64_t b = latents.size(0);
  require(b >= 1, "latent evaluator: the batch is empty");
  require(static_cast<int64_t>(prompts.size()) == b, "latent evaluator: " + std::to_string(b) + " latents but " +
                                                         std::to_string(prompts.size()) + " prompts");
  require(at::isFloatingType(latents.scalar_type()) && at::isfinite(latents).all().item<bool>(),
          "latent evaluator: latents must be finite floating-point values");
  require(max_batch >= 0, "latent evaluator: maxBatch must be >= 0");
  const auto t = checked_timesteps(timesteps, b, "latent evaluator");
  at::NoGradGuard no_grad;
  const auto text = text_features(prompts);
  const int64_t chunk = max_batch > 0 ? max_batch : b;
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < b; s += chunk) {
    const int64_t e = std::min(b, s + chunk);
    parts.push_back(net_(latents.slice(0, s, e), t.slice(0, s, e), text.slice(0, s, e)).to(at::kCPU));
  }
  return at::cat(parts);
}

at::Tensor LatentPreferenceModel::score_images(const at::Tensor&, const std::vector<std::string>&, const at::Tensor&,
                                               int64_t) {
  throw InvalidArgument(
      "a latent evaluator scores latents, not images: give latents (and their timesteps) instead of images");
}

at::Tensor LatentPreferenceModel::score_candidates(const at::Tensor&, const at::Tensor& latents,
                                                   const std::vector<std::string>& prompts, const at::Tensor& timesteps,
                                                   int64_t max_batch) {
  require(latents.defined(), "latent evaluator: the candidates' latents are missing");
  return score(latents, prompts, timesteps, max_batch);
}

void LatentPreferenceModel::save(const std::string& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InvalidArgument("cannot create the directory " + dir + ": " + ec.message());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : holder_->named_parameters(true)) tensors.emplace_back(p.key(), p.value().detach());
  io::save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  const nlohmann::json config = {{"spo_evaluator_kind", kLatentEvaluatorKind},
                                 {"text_config", text_config_source_},
                                 {"latent_net", net_->config.to_json()}};
  io::write_file_atomic(dir + "/config.json", config.dump(2) + "\n");
  copy_tokenizer_files(dir_, dir);
}

}  // namespace spo::evaluator

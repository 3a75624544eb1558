#include "pretraining/world_configs.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "io/atomic_write.h"
#include "io/safetensors.h"
#include "models/autoencoder_kl.h"
#include "models/clip_model.h"
#include "models/clip_text_model.h"
#include "models/unet_2d_condition.h"
#include "models/unet_config.h"
#include "models/weight_init.h"
#include "pretraining/world_tokenizer.h"

namespace spo::pretraining {
namespace {

using OrderedJson = nlohmann::ordered_json;

void write_json(const std::string& path, const OrderedJson& j) { io::write_file_atomic(path, j.dump(2) + "\n"); }

// Distinct init streams per component, so changing one does not move the others.
uint64_t component_seed(uint64_t seed, uint64_t component) { return seed * 1000003ull + component; }

OrderedJson text_config_with(int64_t hidden, int64_t layers, int64_t heads, world::Track track,
                             bool caption_words = false) {
  const auto v = world_vocabulary(track, caption_words);
  return OrderedJson{{"architectures", {"CLIPTextModel"}},
                     {"model_type", "clip_text_model"},
                     {"vocab_size", static_cast<int64_t>(v.tokens.size())},
                     {"hidden_size", hidden},
                     {"intermediate_size", 4 * hidden},
                     {"projection_dim", hidden},
                     {"num_hidden_layers", layers},
                     {"num_attention_heads", heads},
                     {"max_position_embeddings", 77},
                     {"hidden_act", "quick_gelu"},
                     {"layer_norm_eps", 1e-5},
                     {"bos_token_id", v.bos_id},
                     {"eos_token_id", v.eos_id},
                     {"pad_token_id", v.eos_id}};
}

}  // namespace

OrderedJson world_vae_config() {
  return OrderedJson{{"_class_name", "AutoencoderKL"},
                     {"in_channels", 3},
                     {"out_channels", 3},
                     {"latent_channels", 4},
                     {"block_out_channels", {32, 64}},
                     {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
                     {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
                     {"layers_per_block", 1},
                     {"norm_num_groups", 8},
                     {"act_fn", "silu"},
                     {"sample_size", kWorldImageSize},
                     {"scaling_factor", 1.0},  // set from the trained encoder's latent std (as SD's 0.18215 was)
                     {"force_upcast", true}};
}

OrderedJson world_unet_config() {
  return OrderedJson{{"_class_name", "UNet2DConditionModel"},
                     {"sample_size", kWorldImageSize / 2},
                     {"in_channels", 4},
                     {"out_channels", 4},
                     {"block_out_channels", {32, 64, 64}},
                     // No attention at 16x16: it cost more than the rest of the UNet on a CPU.
                     {"down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"}},
                     {"up_block_types", {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"}},
                     {"mid_block_type", "UNetMidBlock2DCrossAttn"},
                     {"layers_per_block", 1},
                     {"cross_attention_dim", 64},
                     {"attention_head_dim", 4},
                     {"norm_num_groups", 8},
                     {"act_fn", "silu"},
                     {"flip_sin_to_cos", true},
                     {"freq_shift", 0}};
}

OrderedJson world_text_encoder_config(world::Track track) { return text_config_with(64, 3, 4, track); }

OrderedJson world_scheduler_config(const std::string& prediction) {
  return OrderedJson{{"_class_name", "DDIMScheduler"},
                     {"num_train_timesteps", 1000},
                     {"beta_start", 0.00085},
                     {"beta_end", 0.012},
                     {"beta_schedule", "scaled_linear"},
                     {"clip_sample", false},
                     {"set_alpha_to_one", false},
                     {"steps_offset", 1},
                     {"prediction_type", prediction},
                     {"timestep_spacing", "leading"}};
}

OrderedJson world_model_index() {
  return OrderedJson{{"_class_name", "StableDiffusionPipeline"},
                     {"scheduler", {"diffusers", "DDIMScheduler"}},
                     {"text_encoder", {"transformers", "CLIPTextModel"}},
                     {"tokenizer", {"transformers", "CLIPTokenizer"}},
                     {"unet", {"diffusers", "UNet2DConditionModel"}},
                     {"vae", {"diffusers", "AutoencoderKL"}},
                     {"safety_checker", {nullptr, nullptr}},
                     {"feature_extractor", {nullptr, nullptr}},
                     {"requires_safety_checker", false}};
}

OrderedJson world_evaluator_config(world::Track track) {
  auto text = text_config_with(64, 3, 4, track, evaluator_caption_words(track));
  OrderedJson vision{{"model_type", "clip_vision_model"},
                     {"hidden_size", 64},
                     {"intermediate_size", 256},
                     {"num_hidden_layers", 4},
                     {"num_attention_heads", 4},
                     {"num_channels", 3},
                     {"image_size", kWorldImageSize},
                     {"patch_size", 4},
                     {"hidden_act", "quick_gelu"},
                     {"layer_norm_eps", 1e-5}};
  return OrderedJson{{"architectures", {"CLIPModel"}},
                     {"model_type", "clip"},
                     {"projection_dim", 64},
                     {"logit_scale_init_value", 2.6592},
                     {"text_config", text},
                     {"vision_config", vision}};
}

void save_module(const torch::nn::Module& module, const std::string& path) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : module.named_parameters(true)) tensors.emplace_back(p.key(), p.value().detach());
  for (const auto& b : module.named_buffers(true)) tensors.emplace_back(b.key(), b.value().detach());
  io::save_safetensors(path, tensors, {{"format", "pt"}});
}

void write_initial_world_pipeline(const std::string& dir, uint64_t seed, const std::string& prediction,
                                  world::Track track) {
  namespace fs = std::filesystem;
  for (const char* sub : {"scheduler", "tokenizer", "text_encoder", "unet", "vae"}) fs::create_directories(dir + "/" + sub);
  write_json(dir + "/model_index.json", world_model_index());
  write_json(dir + "/scheduler/scheduler_config.json", world_scheduler_config(prediction));
  write_world_tokenizer(dir + "/tokenizer", track);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);

  const auto text_json = world_text_encoder_config(track);
  models::ClipTextModel text(models::ClipTextConfig::from_json(text_json), cpu);
  models::initialise_weights(*text, component_seed(seed, 1));
  write_json(dir + "/text_encoder/config.json", text_json);
  save_module(*text, dir + "/text_encoder/model.safetensors");

  const auto unet_json = world_unet_config();
  models::UNet2DConditionModel unet(models::unet_config_from_json(unet_json), cpu);
  models::initialise_weights(*unet, component_seed(seed, 2));
  write_json(dir + "/unet/config.json", unet_json);
  save_module(*unet, dir + "/unet/diffusion_pytorch_model.safetensors");

  const auto vae_json = world_vae_config();
  models::AutoencoderKL vae(models::AutoencoderKLConfig::from_json(vae_json), cpu);
  models::initialise_weights(*vae, component_seed(seed, 3));
  write_json(dir + "/vae/config.json", vae_json);
  save_module(*vae, dir + "/vae/diffusion_pytorch_model.safetensors");
}

void write_initial_world_evaluator(const std::string& dir, uint64_t seed, world::Track track) {
  std::filesystem::create_directories(dir);
  const auto json = world_evaluator_config(track);
  models::ClipModel clip(models::ClipModelConfig::from_json(json), at::TensorOptions().dtype(at::kFloat));
  models::initialise_weights(*clip, component_seed(seed, 4));
  {
    at::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(component_seed(seed, 5));
    clip->vision_model->embeddings->class_embedding.copy_(at::empty(clip->vision_model->embeddings->class_embedding.sizes()).normal_(0, 0.02, gen));
    clip->logit_scale.fill_(std::log(1.0 / 0.07));
  }
  write_json(dir + "/config.json", json);
  save_module(*clip, dir + "/model.safetensors");
  write_world_tokenizer(dir, track, evaluator_caption_words(track));
}

}  // namespace spo::pretraining

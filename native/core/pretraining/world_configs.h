// The shapes world's tiny models: their configs (the real diffusers /
// transformers architectures, scaled down) and the directories they live in.
//
// Why a VAE and not pixel space: the SPO method scores the VAE-decoded x0
// prediction at every step and the evaluator is trained through the VAE
// (docs/method.md §2 and §4); a real AutoencoderKL keeps that whole path, and the
// format, exactly as for Stable Diffusion. It is a small one: 32 px images,
// two blocks (factor 2), 4 latent channels, so the UNet works on 16x16x4.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>

#include <cstdint>
#include <string>

#include "world/track.h"

namespace spo::pretraining {

inline constexpr int64_t kWorldImageSize = 32;

nlohmann::ordered_json world_vae_config();
nlohmann::ordered_json world_unet_config();
// The text towers embed the track's vocabulary (world_tokenizer.h).
nlohmann::ordered_json world_text_encoder_config(world::Track track = world::Track::Relations);
// SD-1.5's DDIM training schedule; prediction "epsilon" (SD-1.5) or "v_prediction" (SD-2.x)
nlohmann::ordered_json world_scheduler_config(const std::string& prediction = "epsilon");
nlohmann::ordered_json world_model_index();          // a StableDiffusionPipeline directory
// A plain CLIPModel (PickScore's architecture); its text tower also embeds the
// defect caption words where the track's evaluator reads them (world_tokenizer.h).
nlohmann::ordered_json world_evaluator_config(world::Track track = world::Track::Relations);

// Writes every parameter and buffer of `module` under its own name to `path` (safetensors, atomic).
void save_module(const torch::nn::Module& module, const std::string& path);

// A complete pipeline directory with freshly initialised weights (seeded):
// model_index.json, scheduler/, tokenizer/, text_encoder/, unet/, vae/.
void write_initial_world_pipeline(const std::string& dir, uint64_t seed, const std::string& prediction = "epsilon",
                                  world::Track track = world::Track::Relations);

// A plain CLIPModel directory (config.json, model.safetensors, tokenizer files),
// freshly initialised: logit_scale = ln(1 / 0.07), class embedding ~ N(0, 0.02).
void write_initial_world_evaluator(const std::string& dir, uint64_t seed, world::Track track = world::Track::Relations);

}  // namespace spo::pretraining

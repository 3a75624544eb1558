// A diffusers text-to-image pipeline directory (SD-1.5 or SDXL layout) loaded
// into the engine: prompts -> guided DDIM in latent space -> VAE -> images,
// and the SPO primitive, k candidate next latents from one shared x_t
// (docs/method.md §1 and §2).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diffusion/ddim_scheduler.h"
#include "models/autoencoder_kl.h"
#include "models/unet_2d_condition.h"
#include "pipeline/model_index.h"
#include "pipeline/prompt_encoder.h"
#include "runtime/job_context.h"

namespace spo::pipeline {

struct PipelineOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // UNet and text encoders; the VAE stays fp32 in fp16 when it asks to
};

// The UNet's conditioning for a batch, one row per sample, both CFG branches.
struct Conditioning {
  PromptEmbeddings cond, uncond;
  at::Tensor time_ids;  // [B, 6] SDXL: original size, crop top-left, target size; else undefined

  int64_t batch() const { return cond.hidden.size(0); }
  // Each row repeated `times` times in place (row i -> rows i*times .. i*times+times-1).
  Conditioning repeat_rows(int64_t times) const;
  // The rows at `index` ([n] int64), in that order.
  Conditioning select_rows(const at::Tensor& index) const;
};

// eps_u + w (eps_c - eps_u) of `unet` (this pipeline's or a copy of it) with
// both halves in one batch; gradients flow when grad mode is on (the SPO
// update). latents [B, C, h, w] on the UNet's device and dtype; fp32 result.
at::Tensor guided_unet_output(models::UNet2DConditionModel& unet, const at::Tensor& latents,
                              const at::Tensor& timesteps, const Conditioning& c, double guidance_scale);

struct GenerateRequest {
  std::vector<std::string> prompts;
  // Unset: "" (or zeros where the directory says force_zeros_for_empty_prompt).
  std::optional<std::string> negative_prompt;
  int64_t steps = 20;
  double guidance_scale = 5.0;  // <= 1: the conditional branch alone, as diffusers
  double eta = 1.0;
  uint64_t seed = 42;           // x_T (unless given) and every step's noise, drawn on the CPU
  int64_t width = 0, height = 0;  // 0: the UNet's sample_size times the VAE's factor
  std::optional<at::Tensor> initial_latents;  // x_T [B, C, H/f, W/f]
  bool decode = true;
  int64_t max_batch = 0;  // > 0: at most this many UNet rows (of the CFG-doubled batch) at once
};

struct GenerateResult {
  at::Tensor latents;  // final latents (scaled, as the UNet sees them), fp32 CPU [B, C, h, w]
  at::Tensor images;   // fp32 CPU [B, 3, H, W] in about [-1, 1] (undefined without decode)
  at::Tensor pixels;   // uint8 CPU [B, H, W, 3] RGB (undefined without decode)
};

struct CandidateRequest {
  std::vector<std::string> prompts;  // P prompts, one shared latent each
  std::optional<std::string> negative_prompt;
  at::Tensor latents;       // x_t [P, C, h, w]
  at::Tensor model_output;  // the guided model output at x_t [P, C, h, w] (not recomputed)
  int64_t timestep = 0;     // t of x_t, one of the schedule's timesteps
  int64_t steps = 20;       // inference steps of the schedule (fixes prev_t = t - T/steps)
  int64_t k = 4;            // candidates per prompt
  // Transitions per chain (docs/method.md §2.4): the branch step from x_t, then j - 1
  // further single-sample guided steps of every candidate before it is scored.
  int64_t transitions_per_chain = 1;
  double guidance_scale = 5.0;
  double eta = 1.0;
  uint64_t seed = 42;
  bool predict_x0 = true;   // guided UNet on every candidate at prev_t (one batch)
  bool decode = false;      // decode the x0 predictions (implies predict_x0)
  int64_t max_batch = 0;    // > 0: at most this many UNet rows (of the CFG-doubled batch) at once
  // The prompts' conditioning (one row per prompt) when the caller has it
  // already (the SPO round): saves running the text encoders at every branch step.
  std::optional<Conditioning> conditioning;
};

struct CandidateResult {
  int64_t prev_timestep = 0;  // the chains' final timestep (< 0 past the last step: clean latents)
  at::Tensor candidates;      // each chain's final latent [P, k, C, h, w] fp32 CPU
  at::Tensor log_probs;       // [P, k]: the chain's log-prob, the sum of its transitions' (below)
  // The j transitions of each chain: transition i goes from chain_timesteps[i]
  // to the next timestep and ends at chain[:, :, i] (chain[:, :, j-1] == candidates).
  std::vector<int64_t> chain_timesteps;  // [j]
  at::Tensor chain;                      // [P, k, j, C, h, w]
  at::Tensor chain_log_probs;            // [P, k, j]: mean log N(x; mean, std^2) over C, h, w
  at::Tensor model_output;    // guided output at each candidate [P, k, ...] (undefined at the last step)
  at::Tensor pred_original;   // x0 of each candidate [P, k, ...] (the candidate itself at the last step)
  at::Tensor images, pixels;  // decoded x0: [P, k, 3, H, W] fp32 and [P, k, H, W, 3] uint8
};

class Pipeline {
 public:
  // Reads model_index.json, the scheduler config and every component, after
  // checking that their configurations fit together. spo::Error on any problem.
  static std::shared_ptr<Pipeline> load(const std::string& dir, const PipelineOptions& options = {});

  PipelineKind kind() const { return index_.kind; }
  const PipelineOptions& options() const { return options_; }
  const diffusion::DdimConfig& scheduler_config() const { return scheduler_config_; }
  int64_t vae_scale_factor() const { return vae_->downscale_factor(); }
  int64_t latent_channels() const { return unet_->config.in_channels; }
  int64_t default_size() const { return unet_->config.sample_size * vae_scale_factor(); }

  // Prompts and their unconditional branch for images of height x width.
  Conditioning encode_prompts(const std::vector<std::string>& prompts,
                              const std::optional<std::string>& negative_prompt, int64_t height, int64_t width);

  // eps_u + w (eps_c - eps_u) with both halves in one UNet batch; timesteps [B]
  // int64. max_batch > 0 runs that batch (2B rows, B without guidance) in
  // chunks of at most max_batch rows, to bound memory. Returns fp32 on the run device.
  at::Tensor guided_model_output(const at::Tensor& latents, const at::Tensor& timesteps, const Conditioning& c,
                                 double guidance_scale, int64_t max_batch = 0);

  // Latents (scaled) -> images [B, 3, H, W] fp32 CPU.
  at::Tensor decode(const at::Tensor& latents);

  GenerateResult generate(const GenerateRequest& request, const JobContext& ctx = {});
  CandidateResult candidates(const CandidateRequest& request, const JobContext& ctx = {});

  // The components, for tests and for the trainer.
  models::UNet2DConditionModel& unet() { return unet_; }
  models::AutoencoderKL& vae() { return vae_; }
  PromptEncoder& prompt_encoder() { return *prompt_encoder_; }

 private:
  Pipeline() = default;
  void check_size(int64_t height, int64_t width) const;
  // The UNet over `x` in chunks of at most max_batch rows (0: one call).
  at::Tensor unet_chunked(const at::Tensor& x, const at::Tensor& t, const at::Tensor& hidden,
                          const models::UNetAddedConditions& added, int64_t max_batch);

  ModelIndex index_;
  PipelineOptions options_;
  diffusion::DdimConfig scheduler_config_;
  std::optional<PromptEncoder> prompt_encoder_;
  models::UNet2DConditionModel unet_{nullptr};
  models::AutoencoderKL vae_{nullptr};
  at::ScalarType vae_dtype_ = at::kFloat;
};

}  // namespace spo::pipeline

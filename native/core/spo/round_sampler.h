// What both sampling rounds (SPO's in sampling_round.cpp, D3PO's in
// d3po_round.cpp) begin with and move their trajectories by before they
// differ: the settings checked, no gradients, the images' size, one generator
// that draws x_T and every later draw of the round, the DDIM schedule of the
// settings' steps, and the plain stochastic DDIM step of every trajectory at once.
#pragma once
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/ddim_scheduler.h"
#include "pipeline/pipeline.h"
#include "spo/spo_settings.h"

namespace spo::trainer {

class RoundSampler {
 public:
  // Throws InvalidArgument for invalid settings or no prompts (`round` names the round).
  // No gradients are recorded on this thread while it lives.
  RoundSampler(pipeline::Pipeline& pipe, const std::vector<std::string>& prompts, const SpoSettings& settings,
               uint64_t seed, const std::string& round);

  at::Generator gen;  // x_T, every step's noise, then the round's own draws

  const std::vector<int64_t>& timesteps() const { return scheduler_.timesteps(); }
  int64_t steps() const { return static_cast<int64_t>(timesteps().size()); }
  // The prompts' conditioning (one row each) at the round's image size.
  pipeline::Conditioning encode(const std::vector<std::string>& prompts) const;
  // x_T of `rows` trajectories: [rows, C, h, w] fp32 CPU, drawn from gen.
  at::Tensor initial_latents(int64_t rows);
  // x at the schedule's step i (fp32 CPU, one row per row of `cond`) -> the
  // next latents (fp32 CPU): the guided model output (phase CandidateUnet)
  // and fresh noise from gen, at the settings' eta.
  at::Tensor step(const at::Tensor& x, int64_t i, const pipeline::Conditioning& cond);

 private:
  at::NoGradGuard no_grad_;
  pipeline::Pipeline& pipe_;
  const SpoSettings& settings_;
  int64_t height_ = 0, width_ = 0;  // pixels
  diffusion::DdimScheduler scheduler_;
};

}  // namespace spo::trainer

// The sampling schedule of a diffusers pipeline directory: its
// scheduler/scheduler_config.json mapped onto DDIM. SD ships PNDM (SD-1.5) or
// Euler (SDXL) configs; what matters for DDIM is the training schedule
// (betas, train steps) and the inference spacing (steps_offset,
// timestep_spacing), which every diffusers scheduler config states alike.
#pragma once
#include <string>

#include "diffusion/ddim_scheduler.h"
#include "io/json_file.h"

namespace spo::pipeline {

// Absent fields take diffusers' scheduler defaults, except clip_sample and
// set_alpha_to_one, which PNDM / Euler configs omit: false, SD's values (not
// DDIMScheduler's class defaults). Features DDIM
// here cannot honour (trained_betas, thresholding, zero-SNR rescaling) are
// refused with spo::Unsupported naming the field.
diffusion::DdimConfig ddim_config_from_diffusers(const io::Json& config, const std::string& what);

// <dir>/scheduler_config.json (spo::Error NotFound / InvalidArgument naming the file).
diffusion::DdimConfig read_scheduler_config(const std::string& dir);

}  // namespace spo::pipeline

// CPU path of the fused DDIM step: parallel over (sample, chunk) tasks, an
// inner loop specialised per prediction type and x_prev source so that the
// compiler vectorises it, and per-chunk double partial sums for the log-prob.
#include <ATen/Parallel.h>

#include <vector>

#include "kernels/ddim_step/ddim_step.h"

namespace spo::kernels {
namespace {

constexpr int64_t kChunk = 8192;

enum class PrevSource { Mean, Noise, Given };

struct CpuPointers {
  const float* x;
  const float* model_out;
  const float* noise;
  const float* given;
  float* prev;
  float* x0;
  float* mean;
};

template <PredictionType kPred, PrevSource kSrc>
double run_chunk(const DdimCoefficients& c, const CpuPointers& p, int64_t lo, int64_t hi, float clip,
                 bool use_clipped) {
  double acc = 0.0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = lo; i < hi; ++i) {
    const DdimElementOut e = ddim_element(c, kPred, p.x[i], p.model_out[i], clip, use_clipped);
    float xp;
    if constexpr (kSrc == PrevSource::Given) xp = p.given[i];
    else if constexpr (kSrc == PrevSource::Noise) xp = e.mean + c.std * p.noise[i];
    else xp = e.mean;
    p.prev[i] = xp;
    p.x0[i] = e.x0;
    p.mean[i] = e.mean;
    acc += ddim_logp_quadratic(c, xp, e.mean);
  }
  return acc;
}

template <PredictionType kPred>
double dispatch_source(PrevSource src, const DdimCoefficients& c, const CpuPointers& p, int64_t lo,
                       int64_t hi, float clip, bool use_clipped) {
  switch (src) {
    case PrevSource::Given: return run_chunk<kPred, PrevSource::Given>(c, p, lo, hi, clip, use_clipped);
    case PrevSource::Noise: return run_chunk<kPred, PrevSource::Noise>(c, p, lo, hi, clip, use_clipped);
    default: return run_chunk<kPred, PrevSource::Mean>(c, p, lo, hi, clip, use_clipped);
  }
}

}  // namespace

void ddim_step_cpu(const at::Tensor& coeffs, const DdimStepInputs& in, DdimStepOutputs& out) {
  const int64_t batch = in.sample.size(0);
  const int64_t n = batch == 0 ? 0 : in.sample.numel() / batch;
  const auto* table = reinterpret_cast<const DdimCoefficients*>(coeffs.data_ptr<float>());
  const PrevSource src = in.prev_sample ? PrevSource::Given : (in.noise ? PrevSource::Noise : PrevSource::Mean);
  CpuPointers p{in.sample.data_ptr<float>(),
                in.model_output.data_ptr<float>(),
                in.noise ? in.noise->data_ptr<float>() : nullptr,
                in.prev_sample ? in.prev_sample->data_ptr<float>() : nullptr,
                out.prev_sample.data_ptr<float>(),
                out.pred_original.data_ptr<float>(),
                out.mean.data_ptr<float>()};
  const int64_t chunks = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
  std::vector<double> partial(static_cast<size_t>(batch * chunks), 0.0);
  at::parallel_for(0, batch * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / chunks, k = task % chunks;
      const int64_t lo = b * n + k * kChunk, hi = b * n + std::min(n, (k + 1) * kChunk);
      const DdimCoefficients& c = table[b];
      double s = 0.0;
      switch (in.prediction) {
        case PredictionType::Epsilon:
          s = dispatch_source<PredictionType::Epsilon>(src, c, p, lo, hi, in.clip_range, in.use_clipped_model_output);
          break;
        case PredictionType::VPrediction:
          s = dispatch_source<PredictionType::VPrediction>(src, c, p, lo, hi, in.clip_range, in.use_clipped_model_output);
          break;
        case PredictionType::Sample:
          s = dispatch_source<PredictionType::Sample>(src, c, p, lo, hi, in.clip_range, in.use_clipped_model_output);
          break;
      }
      partial[static_cast<size_t>(task)] = s;
    }
  });
  float* lp = out.log_prob.data_ptr<float>();
  for (int64_t b = 0; b < batch; ++b) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += partial[static_cast<size_t>(b * chunks + k)];
    lp[b] = static_cast<float>(s / static_cast<double>(n) + table[b].log_norm);
  }
}

}  // namespace spo::kernels

// The SPO loss (clamped DPO over DDIM step log-probs, docs/method.md §3) as a
// fused kernel with a fused backward, and its plain-ATen reference.
// All [N, ...] tensors hold one pair per row: winner and loser share x_t, t and
// the prompt, so one policy output and one reference output serve both sides.
// Any floating dtype is accepted; the math runs in fp32 with double sums, the
// per-pair outputs are fp32 and the gradient comes back in policy_output's dtype.
#pragma once
#include <ATen/ATen.h>

#include "kernels/spo_loss/spo_loss_math.h"

namespace spo::kernels {

struct SpoLossInputs {
  at::Tensor policy_output;     // [N, ...] guided model output of the policy (the only input with a gradient)
  at::Tensor reference_output;  // [N, ...] guided model output of the reference (data)
  at::Tensor sample;            // x_t, [N, ...]
  at::Tensor winner;            // x_prev^w, [N, ...]
  at::Tensor loser;             // x_prev^l, [N, ...]
  at::Tensor alpha_t;           // [N] alpha_bar at t (float64)
  at::Tensor alpha_prev;        // [N] alpha_bar at prev_t (float64)
  double eta = 1.0;             // > 0: a deterministic step has no density
  PredictionType prediction = PredictionType::Epsilon;
  double beta = 10.0;
  double clip_eps = 0.1;
};

struct SpoLossOutputs {
  at::Tensor loss;                                                   // 0-d fp32, differentiable w.r.t. policy_output
  at::Tensor policy_logp_w, policy_logp_l, ref_logp_w, ref_logp_l;  // [N] fp32, detached
  at::Tensor ratio_w, ratio_l;                                       // [N] fp32 clamped ratios, detached
  at::Tensor inside_w, inside_l;                                     // [N] bool: the ratio was not clamped
};

// Fused: one pass for the four log-probs, one for the gradient (torch::autograd::Function).
SpoLossOutputs spo_loss(const SpoLossInputs& in);

// The same from ordinary ATen ops (at::clamp, at::log_sigmoid, ...); its autograd
// gives the reference gradient. Computes in float64 for float64 inputs, else fp32.
SpoLossOutputs spo_loss_reference(const SpoLossInputs& in);

// The loss from per-pair log-probs [N], for transitions that do not share x_t
// (each side has its own forwards). Differentiable through lp_w and lp_l by
// ordinary autograd; ref_w and ref_l are detached.
at::Tensor dpo_loss_from_logps(const at::Tensor& lp_w, const at::Tensor& lp_l, const at::Tensor& ref_w,
                               const at::Tensor& ref_l, double beta = 10.0, double clip_eps = 0.1);

// Validate; throw spo::InvalidArgument with a clear message.
void check_spo_loss_inputs(const SpoLossInputs& in);
void check_dpo_loss_inputs(const at::Tensor& lp_w, const at::Tensor& lp_l, const at::Tensor& ref_w,
                           const at::Tensor& ref_l, double beta, double clip_eps);

// Per-pair coefficients as an [N, 4] fp32 table on `device` (layout of SpoPairCoefficients).
at::Tensor spo_pair_coefficient_table(const at::Tensor& alpha_t, const at::Tensor& alpha_prev, double eta,
                                      PredictionType prediction, at::Device device);

// ---- Backends, called by spo_loss.cpp on fp32 contiguous tensors of one device.

struct SpoLossBuffers {
  at::Tensor policy, reference, sample, winner, loser;  // [N, M] fp32; reference unused by the backward
  at::Tensor coeffs;                                    // [N, 4] (SpoPairCoefficients)
  SpoLossParams params;
};

// Fills pair_results [N, 11] (SpoPairResult) and loss (0-d, mean of the pair terms).
void spo_loss_forward_cpu(const SpoLossBuffers& in, at::Tensor& pair_results, at::Tensor& loss);
void spo_loss_forward_cuda(const SpoLossBuffers& in, at::Tensor& pair_results, at::Tensor& loss);

// grad [N, M] from pair_grads [N, 2] = (grad_w, grad_l) times the upstream gradient.
void spo_loss_backward_cpu(const SpoLossBuffers& in, const at::Tensor& pair_grads, at::Tensor& grad);
void spo_loss_backward_cuda(const SpoLossBuffers& in, const at::Tensor& pair_grads, at::Tensor& grad);

}  // namespace spo::kernels

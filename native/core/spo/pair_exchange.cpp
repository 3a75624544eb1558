#include "spo/pair_exchange.h"

#include "distributed/collectives.h"
#include "runtime/errors.h"

namespace spo::trainer {

std::vector<TransitionPair> all_gather_pairs(distributed::Group& group, const std::vector<TransitionPair>& local,
                                             int64_t prompt_offset, const std::vector<int64_t>& latent_shape) {
  require(latent_shape.size() == 3, "all_gather_pairs: latent_shape is [C, h, w]");
  const int64_t n = static_cast<int64_t>(local.size());
  // Latents: [n, 4, C, h, w] (x_t_w, x_t_l, x_w, x_l); metadata as float64 (exact for these integers).
  std::vector<int64_t> shape{n, 4};
  shape.insert(shape.end(), latent_shape.begin(), latent_shape.end());
  auto latents = at::empty(shape, at::kFloat);
  auto meta = at::empty({n, 4}, at::kDouble);
  auto m = meta.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& p = local[size_t(i)];
    latents[i][0].copy_(p.x_t_w);
    latents[i][1].copy_(p.x_t_l);
    latents[i][2].copy_(p.x_w);
    latents[i][3].copy_(p.x_l);
    m[i][0] = static_cast<double>(p.prompt + prompt_offset);
    m[i][1] = static_cast<double>(p.timestep);
    m[i][2] = p.shared ? 1.0 : 0.0;
    m[i][3] = p.margin;
  }
  const auto all_latents = distributed::all_gather_rows(group, latents, "pair gather (latents)");
  const auto all_meta = distributed::all_gather_rows(group, meta, "pair gather (metadata)");
  std::vector<TransitionPair> out(static_cast<size_t>(all_meta.size(0)));
  auto am = all_meta.accessor<double, 2>();
  for (int64_t i = 0; i < all_meta.size(0); ++i) {
    auto& p = out[size_t(i)];
    p.prompt = static_cast<int64_t>(am[i][0]);
    p.timestep = static_cast<int64_t>(am[i][1]);
    p.shared = am[i][2] != 0.0;
    p.margin = am[i][3];
    p.x_t_w = all_latents[i][0].clone();
    p.x_t_l = p.shared ? p.x_t_w : all_latents[i][1].clone();
    p.x_w = all_latents[i][2].clone();
    p.x_l = all_latents[i][3].clone();
  }
  return out;
}

}  // namespace spo::trainer

#include "training/adamw_state.h"

#include <set>

#include "io/safetensors.h"
#include "runtime/errors.h"

namespace spo::training {
namespace {

void* state_key(const at::Tensor& p) { return p.unsafeGetTensorImpl(); }

}  // namespace

void save_adamw_state(const std::string& path, torch::optim::AdamW& optimizer, const NamedParameters& params) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& [name, p] : params) {
    auto it = optimizer.state().find(state_key(p));
    if (it == optimizer.state().end()) continue;
    auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
    tensors.emplace_back(name + ".exp_avg", s.exp_avg());
    tensors.emplace_back(name + ".exp_avg_sq", s.exp_avg_sq());
    tensors.emplace_back(name + ".step", at::full({1}, s.step(), at::kLong));
  }
  io::save_safetensors(path, tensors, {{"format", "spo-adamw-state"}});
}

void load_adamw_state(const std::string& path, torch::optim::AdamW& optimizer, const NamedParameters& params) {
  auto file = io::SafeTensorsFile::open(path);
  auto has = [&](const std::string& k) { return file->find(k) != nullptr; };
  // Every tensor is one of a parameter's three entries, and a parameter has all
  // three or none: a damaged file (a flipped bit in a name) is refused rather
  // than silently restarting that parameter's moments from zero.
  std::set<std::string> known;
  for (const auto& [name, p] : params) known.insert({name + ".exp_avg", name + ".exp_avg_sq", name + ".step"});
  for (const auto& e : file->entries()) {
    require(known.count(e.name) > 0, path + ": tensor '" + e.name + "' is not the optimizer state of any parameter");
  }
  for (const auto& [name, p] : params) {
    const int present = has(name + ".exp_avg") + has(name + ".exp_avg_sq") + has(name + ".step");
    if (present == 0) continue;
    require(present == 3, path + ": incomplete optimizer state for " + name);
    auto avg = file->tensor(name + ".exp_avg"), avg_sq = file->tensor(name + ".exp_avg_sq");
    auto step = file->tensor(name + ".step");
    require(avg.sizes() == p.sizes() && avg_sq.sizes() == p.sizes() && step.numel() == 1,
            path + ": optimizer state for " + name + " does not match the parameter's shape " + c10::str(p.sizes()));
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(step.to(at::kLong).item<int64_t>());
    s->exp_avg(avg.to(p.device(), p.scalar_type()).clone());
    s->exp_avg_sq(avg_sq.to(p.device(), p.scalar_type()).clone());
    optimizer.state()[state_key(p)] = std::move(s);
  }
}

}  // namespace spo::training

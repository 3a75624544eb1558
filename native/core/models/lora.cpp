#include "models/lora.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "runtime/errors.h"

namespace spo::models {

namespace {

bool is_target(const std::string& name, const std::vector<std::string>& targets) {
  for (const auto& t : targets) {
    if (name == t) return true;
    if (name.size() > t.size() && name.compare(name.size() - t.size(), t.size(), t) == 0 &&
        name[name.size() - t.size() - 1] == '.')
      return true;
  }
  return false;
}

// Every Linear of `model` with its dotted name, in module order.
template <typename Fn>
void for_each_linear(const torch::nn::Module& model, Fn&& fn) {
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto* linear = dynamic_cast<LinearImpl*>(item.value().get())) fn(item.key(), *linear);
  }
}

}  // namespace

void validate(const LoraConfig& c) {
  require(c.rank >= 1, "LoRA: rank must be at least 1, got " + std::to_string(c.rank));
  require(std::isfinite(c.alpha) && c.alpha > 0, "LoRA: alpha must be a finite positive number");
  require(!c.targets.empty(), "LoRA: the target module list is empty");
  for (const auto& t : c.targets) require(!t.empty(), "LoRA: empty target module name");
}

std::vector<at::Tensor> LoraSet::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& l : layers) {
    out.push_back(l.branch->down);
    out.push_back(l.branch->up);
  }
  return out;
}

int64_t LoraSet::parameter_count() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.branch->down.numel() + l.branch->up.numel();
  return n;
}

LoraSet attach_lora(torch::nn::Module& model, const LoraConfig& config, const at::Device& device) {
  validate(config);
  std::vector<std::pair<std::string, LinearImpl*>> found;
  for_each_linear(model, [&](const std::string& name, LinearImpl& linear) {
    require(!linear.lora, "LoRA: '" + name + "' already has a LoRA attached (detach or merge it first)");
    if (is_target(name, config.targets)) found.emplace_back(name, &linear);
  });
  require(!found.empty(), "LoRA: no Linear layer of the model matches the targets");

  // peft's init_lora_weights="gaussian": nn.init.normal_(lora_A, std=1/r); lora_B zeros.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(config.seed);
  const double std_dev = 1.0 / static_cast<double>(config.rank);
  const auto fp32 = at::TensorOptions().dtype(at::kFloat);
  torch::NoGradGuard no_grad;
  LoraSet set;
  for (const auto& [name, linear] : found) {
    const int64_t out = linear->weight.size(0), in = linear->weight.size(1);
    auto branch = std::make_shared<LoraBranch>();
    branch->down = at::empty({config.rank, in}, fp32).normal_(0.0, std_dev, generator).to(device);
    branch->up = at::zeros({out, config.rank}, fp32.device(device));
    branch->down.requires_grad_(true);
    branch->up.requires_grad_(true);
    branch->alpha = config.alpha;
    branch->scale = config.alpha / static_cast<double>(config.rank);
    linear->lora = branch;
    set.layers.push_back({name, branch});
  }
  return set;
}

LoraSet find_lora(const torch::nn::Module& model) {
  LoraSet set;
  for_each_linear(model, [&](const std::string& name, LinearImpl& linear) {
    if (linear.lora) set.layers.push_back({name, linear.lora});
  });
  return set;
}

int64_t set_lora_enabled(torch::nn::Module& model, bool enabled) {
  int64_t n = 0;
  for_each_linear(model, [&](const std::string&, LinearImpl& linear) {
    if (linear.lora) {
      linear.lora->enabled = enabled;
      ++n;
    }
  });
  return n;
}

int64_t detach_lora(torch::nn::Module& model) {
  int64_t n = 0;
  for_each_linear(model, [&](const std::string&, LinearImpl& linear) {
    if (linear.lora) {
      linear.lora.reset();
      ++n;
    }
  });
  return n;
}

int64_t merge_lora(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  int64_t n = 0;
  for_each_linear(model, [&](const std::string&, LinearImpl& linear) {
    if (!linear.lora) return;
    const auto& b = *linear.lora;
    const at::Tensor delta = at::mm(b.up, b.down).mul_(b.scale).to(linear.weight.device());
    linear.weight.copy_(linear.weight.to(at::kFloat) + delta);
    linear.lora.reset();
    ++n;
  });
  return n;
}

}  // namespace spo::models

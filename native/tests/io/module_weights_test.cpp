// Strict weight loading into modules, and finding a component's files.
// The test module is built here from torch::nn::Module (spo_io_tests links
// the io area only, not models/).
#include "io/module_weights.h"

#include <gtest/gtest.h>

#include "io/json_file.h"
#include "io_test_util.h"

namespace spo::io {
namespace {

using testing::ScratchDir;
using testing::throws_spo_error;
using testing::write_bytes;

struct Leaf : torch::nn::Module {
  Leaf(std::vector<int64_t> weight_shape, int64_t bias_size) {
    weight = register_parameter("weight", at::full(weight_shape, 7.0f));
    bias = register_parameter("bias", at::full({bias_size}, 7.0f));
  }
  at::Tensor weight, bias;
};

// proj.weight [3, 2], proj.bias [3], conv.weight [2, 1, 3, 3], conv.bias [2], position_ids [4] (int64 buffer).
struct TinyNet : torch::nn::Module {
  TinyNet() {
    proj = register_module("proj", std::make_shared<Leaf>(std::vector<int64_t>{3, 2}, 3));
    conv = register_module("conv", std::make_shared<Leaf>(std::vector<int64_t>{2, 1, 3, 3}, 2));
    position_ids = register_buffer("position_ids", at::zeros({4}, at::kLong));
  }
  std::shared_ptr<Leaf> proj, conv;
  at::Tensor position_ids;
};

using Named = std::vector<std::pair<std::string, at::Tensor>>;

// Values exact in fp16, distinct per tensor.
Named tiny_net_weights() {
  return {
      {"proj.weight", (at::arange(6, at::kFloat).reshape({3, 2}) * 0.25).to(at::kHalf)},
      {"proj.bias", (at::arange(3, at::kFloat) - 1).to(at::kHalf)},
      {"conv.weight", (at::arange(18, at::kFloat).reshape({2, 1, 3, 3}) * 0.5).to(at::kHalf)},
      {"conv.bias", at::tensor({1.5f, -2.5f}).to(at::kHalf)},
      {"position_ids", at::arange(4, at::kLong)},
  };
}

std::shared_ptr<SafeTensorsFile> saved(const ScratchDir& dir, const std::string& name, const Named& tensors) {
  save_safetensors(dir.file(name), tensors);
  return SafeTensorsFile::open(dir.file(name));
}

Named with(Named tensors, const std::string& name, const at::Tensor& value) {
  for (auto& [n, t] : tensors) {
    if (n == name) {
      t = value;
      return tensors;
    }
  }
  tensors.emplace_back(name, value);
  return tensors;
}

Named without(Named tensors, const std::string& name) {
  std::erase_if(tensors, [&](const auto& p) { return p.first == name; });
  return tensors;
}

void expect_untouched(const TinyNet& net) {
  EXPECT_TRUE(at::equal(net.proj->weight, at::full({3, 2}, 7.0f)));
  EXPECT_TRUE(at::equal(net.conv->bias, at::full({2}, 7.0f)));
  EXPECT_TRUE(at::equal(net.position_ids, at::zeros({4}, at::kLong)));
}

TEST(ModuleWeights, LoadsAndConvertsToTheModuleDtype) {
  ScratchDir dir;
  TinyNet net;
  const Named weights = tiny_net_weights();
  load_module_weights(net, {saved(dir, "w.safetensors", weights)});
  const auto parameters = net.named_parameters();
  const auto buffers = net.named_buffers();
  for (const auto& [name, value] : weights) {
    SCOPED_TRACE(name);
    const at::Tensor* target = parameters.find(name);
    if (!target) target = buffers.find(name);
    ASSERT_NE(target, nullptr);
    EXPECT_EQ(target->scalar_type(), value.is_floating_point() ? at::kFloat : at::kLong);
    EXPECT_TRUE(at::equal(*target, value.to(target->scalar_type())));
  }
  EXPECT_TRUE(net.proj->weight.requires_grad()) << "loading must not change what trains";
}

TEST(ModuleWeights, RefusesMismatchesBeforeCopyingAnything) {
  ScratchDir dir;
  const Named good = tiny_net_weights();
  struct Case {
    const char* label;
    Named tensors;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"missing key", without(good, "conv.bias"), "1 missing key: conv.bias"},
      {"extra key", with(good, "proj.extra", at::zeros({1})), "1 unexpected key: proj.extra"},
      {"wrong shape", with(good, "conv.weight", at::zeros({2, 1, 3, 4})),
       "1 key with the wrong shape: conv.weight (file [2, 1, 3, 4], model [2, 1, 3, 3])"},
      {"ids into a float weight", with(good, "proj.bias", at::zeros({3}, at::kLong)), "'proj.bias' has dtype Long"},
      {"floats into int ids", with(good, "position_ids", at::zeros({4})), "'position_ids' has dtype Float"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    TinyNet net;
    auto file = saved(dir, "case.safetensors", c.tensors);
    EXPECT_TRUE(throws_spo_error([&] { load_module_weights(net, {file}); }, ErrorCode::InvalidArgument,
                                 c.message_part));
    expect_untouched(net);
  }
}

TEST(ModuleWeights, RenamesAndIgnoredKeys) {
  ScratchDir dir;
  Named legacy = without(tiny_net_weights(), "proj.weight");
  legacy.emplace_back("proj.old_weight", at::ones({3, 2}));
  legacy.emplace_back("text_model.embeddings.position_ids", at::zeros({1, 77}, at::kLong));
  auto file = saved(dir, "legacy.safetensors", legacy);

  TinyNet refused;
  EXPECT_TRUE(throws_spo_error([&] { load_module_weights(refused, {file}); }, ErrorCode::InvalidArgument,
                               "2 unexpected keys"));
  TinyNet net;
  WeightLoadOptions options;
  options.renames["proj.old_weight"] = "proj.weight";
  options.ignore.push_back("text_model.embeddings.position_ids");
  load_module_weights(net, {file}, options);
  EXPECT_TRUE(at::equal(net.proj->weight, at::ones({3, 2})));
}

TEST(ModuleWeights, AKeyInTwoFilesIsRefused) {
  ScratchDir dir;
  const Named all = tiny_net_weights();
  auto first = saved(dir, "a.safetensors", Named(all.begin(), all.begin() + 3));
  auto second = saved(dir, "b.safetensors", Named(all.begin() + 2, all.end()));
  TinyNet net;
  EXPECT_TRUE(throws_spo_error([&] { load_module_weights(net, {first, second}); }, ErrorCode::InvalidArgument,
                               "'conv.weight' is given twice"));
  expect_untouched(net);
}

TEST(ModuleWeightsDifferences, CountsAndShortensEachGroup) {
  EXPECT_EQ(describe_differences({{"a", {1}}, {"b", {2, 2}}}, {{"b", {2, 2}}, {"a", {1}}}), "");
  ShapeList expected, actual;
  for (int i = 0; i < 7; ++i) expected.emplace_back("m" + std::to_string(i), std::vector<int64_t>{1});
  actual.emplace_back("x", std::vector<int64_t>{1});
  const std::string message = describe_differences(actual, expected);
  EXPECT_NE(message.find("7 missing keys: m0, m1, m2, m3, m4, ... (2 more)"), std::string::npos) << message;
  EXPECT_NE(message.find("1 unexpected key: x"), std::string::npos) << message;
}

// A component directory sharded the way diffusers writes big models.
void write_sharded(const ScratchDir& dir, const std::string& index_json) {
  const Named all = tiny_net_weights();
  save_safetensors(dir.file("model-00001-of-00002.safetensors"), Named(all.begin(), all.begin() + 2));
  save_safetensors(dir.file("model-00002-of-00002.safetensors"), Named(all.begin() + 2, all.end()));
  write_bytes(dir.file("diffusion_pytorch_model.safetensors.index.json"), index_json);
}

std::string index_for_tiny_net(const std::string& second_shard = "model-00002-of-00002.safetensors") {
  return R"({"metadata": {"total_size": 1}, "weight_map": {
      "proj.weight": "model-00001-of-00002.safetensors", "proj.bias": "model-00001-of-00002.safetensors",
      "conv.weight": ")" + second_shard + R"(", "conv.bias": ")" + second_shard + R"(",
      "position_ids": ")" + second_shard + R"("}})";
}

TEST(ComponentWeights, ShardedByAnIndex) {
  ScratchDir dir;
  write_sharded(dir, index_for_tiny_net());
  const auto files = open_component_weights(dir.path());
  ASSERT_EQ(files.size(), 2u);
  TinyNet net;
  load_module_weights(net, files);
  EXPECT_TRUE(at::equal(net.conv->bias, at::tensor({1.5f, -2.5f})));
  EXPECT_TRUE(at::equal(net.position_ids, at::arange(4, at::kLong)));
}

TEST(ComponentWeights, RefusesShardsOutsideTheDirectoryOrRepeatingKeys) {
  {
    ScratchDir dir;
    write_sharded(dir, index_for_tiny_net("../model-00002-of-00002.safetensors"));
    EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.path()); }, ErrorCode::InvalidArgument,
                                 "must stay inside"));
  }
  {
    ScratchDir dir;
    write_sharded(dir, index_for_tiny_net());
    save_safetensors(dir.file("model-00002-of-00002.safetensors"), tiny_net_weights());  // repeats shard 1's keys
    EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.path()); }, ErrorCode::InvalidArgument,
                                 "is in two shards"));
  }
  {
    ScratchDir dir;
    write_sharded(dir, R"({"weight_map": {"proj.weight": "model-00002-of-00002.safetensors"}})");
    EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.path()); }, ErrorCode::InvalidArgument,
                                 "does not hold it"));
  }
}

TEST(ComponentWeights, SingleFilesInPreferenceOrder) {
  ScratchDir dir;
  save_safetensors(dir.file("model.safetensors"), {{"m", at::zeros({1})}});
  auto files = open_component_weights(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]->path(), dir.file("model.safetensors"));
  save_safetensors(dir.file("diffusion_pytorch_model.safetensors"), {{"d", at::zeros({1})}});
  files = open_component_weights(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]->path(), dir.file("diffusion_pytorch_model.safetensors"));
}

TEST(ComponentWeights, RefusesPickleOnlyMissingAndEmptyDirectories) {
  ScratchDir dir;
  write_bytes(dir.file("config.json"), "{}");
  EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.path()); }, ErrorCode::NotFound,
                               "looked for *.safetensors.index.json, diffusion_pytorch_model.safetensors"));
  write_bytes(dir.file("pytorch_model.bin"), "not really a pickle");
  EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.path()); }, ErrorCode::Unsupported,
                               "weights_only=True"));
  EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.file("absent")); }, ErrorCode::NotFound,
                               dir.file("absent")));
  EXPECT_TRUE(throws_spo_error([&] { open_component_weights(dir.file("config.json")); }, ErrorCode::InvalidArgument,
                               "not a directory"));
}

}  // namespace
}  // namespace spo::io

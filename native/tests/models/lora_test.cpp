// LoRA on the UNet: attach / switch / merge semantics, peft's gaussian init,
// the manifest keys untouched, numbers against peft + diffusers on a tiny
// UNet, files that round-trip here and load in diffusers, and clear refusals.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/lora.h"
#include "models/lora_file.h"
#include "models/lora_keys.h"
#include "models/unet_2d_condition.h"
#include "models/unet_loading.h"
#include "runtime/errors.h"

using namespace spo::models;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return std::string(SPO_FIXTURE_ROOT) + "/models/lora/" + name; }

UNet2DConditionModel tiny_unet() { return load_unet(fixture("unet"), at::TensorOptions().dtype(at::kFloat)); }

struct Inputs {
  std::shared_ptr<spo::io::SafeTensorsFile> io = spo::io::SafeTensorsFile::open(fixture("io.safetensors"));
  at::Tensor run(UNet2DConditionModel& model) const {
    torch::NoGradGuard no_grad;
    return model(io->tensor("sample"), io->tensor("timesteps"), io->tensor("encoder_hidden_states"));
  }
};

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

LoraConfig config(int64_t rank, double alpha, uint64_t seed = 42) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.seed = seed;
  return c;
}

// Training would move `up` away from zero; do it by hand so the branch matters.
void randomise_up(const LoraSet& set, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& l : set.layers) l.branch->up.copy_(at::empty(l.branch->up.sizes()).normal_(0, 0.2, g));
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("spo_lora_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

Json read_manifest(const std::string& name) {
  std::ifstream in(std::string(SPO_MANIFEST_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << "missing manifest " << name;
  return Json::parse(in);
}

// `fn` throws E whose message contains `needle`.
template <typename E, typename Fn>
void expect_refused(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "accepted; expected an error containing '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for '" << needle << "': " << e.what();
  }
}

}  // namespace

TEST(LoraAttach, OffOrZeroUpReproducesTheBaseExactly) {
  Inputs in;
  auto model = tiny_unet();
  const at::Tensor base = in.run(model);
  const LoraSet set = attach_lora(*model, config(4, 8), at::kCPU);
  EXPECT_TRUE(torch::equal(in.run(model), base)) << "B = 0 must leave the output unchanged";

  randomise_up(set, 7);
  const at::Tensor tuned = in.run(model);
  EXPECT_GT(max_diff(tuned, base), 1e-3) << "the LoRA branch has no effect";
  EXPECT_EQ(set_lora_enabled(*model, false), static_cast<int64_t>(set.layers.size()));
  EXPECT_TRUE(torch::equal(in.run(model), base)) << "LoRA off must be the base model bit for bit";
  set_lora_enabled(*model, true);
  EXPECT_TRUE(torch::equal(in.run(model), tuned));
  EXPECT_EQ(detach_lora(*model), static_cast<int64_t>(set.layers.size()));
  EXPECT_TRUE(torch::equal(in.run(model), base));
  EXPECT_TRUE(find_lora(*model).layers.empty());
}

TEST(LoraAttach, TargetsEveryAttentionProjectionAndKeepsTheManifestKeys) {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kFloat);
  for (const auto& [name, transformer_blocks] : {std::pair{"sd15_unet", 16}, {"sdxl_unet", 70}}) {
    UNet2DConditionModel model(unet_config_from_json(read_manifest(std::string(name) + ".config.json")), meta);
    const auto before = state_shapes(*model);
    const LoraSet set = attach_lora(*model, config(name == std::string("sdxl_unet") ? 64 : 4, 4), at::kMeta);
    EXPECT_EQ(spo::io::describe_differences(state_shapes(*model), before), "") << name;
    EXPECT_EQ(model->named_parameters().size(), before.size()) << name;
    EXPECT_EQ(set.layers.size(), static_cast<size_t>(transformer_blocks * 2 * 4)) << name;  // attn1, attn2 x q k v out
    for (const auto& l : set.layers) {
      const bool projection = l.name.find(".attn1.") != std::string::npos || l.name.find(".attn2.") != std::string::npos;
      EXPECT_TRUE(projection) << l.name;
      EXPECT_EQ(l.branch->down.device().type(), at::kMeta);
    }
  }
}

TEST(LoraAttach, GaussianInitLikePeftAndReproducibleBySeed) {
  auto model = tiny_unet();
  for (const int64_t rank : {4, 16}) {
    const LoraSet set = attach_lora(*model, config(rank, rank, 42), at::kCPU);
    std::vector<at::Tensor> downs;
    for (const auto& l : set.layers) {
      EXPECT_EQ(l.branch->down.scalar_type(), at::kFloat);
      EXPECT_TRUE(l.branch->down.requires_grad() && l.branch->up.requires_grad());
      EXPECT_EQ(l.branch->up.count_nonzero().item<int64_t>(), 0) << l.name;
      EXPECT_EQ(l.branch->down.size(0), rank);
      EXPECT_DOUBLE_EQ(l.branch->scale, 1.0);
      downs.push_back(l.branch->down.detach().flatten());
    }
    // peft init_lora_weights="gaussian": normal_(lora_A, std = 1 / r).
    const at::Tensor all = at::cat(downs);
    EXPECT_NEAR(all.std().item<double>(), 1.0 / rank, 0.05 / rank) << "rank " << rank << ", " << all.numel() << " values";
    EXPECT_NEAR(all.mean().item<double>(), 0.0, 0.05 / rank);
    EXPECT_EQ(set.parameters().size(), 2 * set.layers.size());
    detach_lora(*model);
  }
  const auto downs_for_seed = [&](uint64_t seed) {
    const LoraSet set = attach_lora(*model, config(4, 4, seed), at::kCPU);
    std::vector<at::Tensor> out;
    for (const auto& l : set.layers) out.push_back(l.branch->down.detach().flatten());
    detach_lora(*model);
    return at::cat(out);
  };
  EXPECT_TRUE(torch::equal(downs_for_seed(42), downs_for_seed(42)));
  EXPECT_FALSE(torch::equal(downs_for_seed(42), downs_for_seed(43)));
}

TEST(LoraAttach, RefusesTwiceNoMatchAndBadConfigs) {
  auto model = tiny_unet();
  attach_lora(*model, config(4, 4), at::kCPU);
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, config(4, 4), at::kCPU); }, "already has a LoRA");
  detach_lora(*model);
  LoraConfig none = config(4, 4);
  none.targets = {"q_proj"};
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, none, at::kCPU); }, "no Linear layer");
  LoraConfig partial = config(4, 4);
  partial.targets = {"q"};  // a suffix of to_q, but not a whole name component
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, partial, at::kCPU); }, "no Linear layer");
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, config(0, 4), at::kCPU); }, "rank");
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, config(4, 0), at::kCPU); }, "alpha");
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, config(4, std::nan("")), at::kCPU); }, "alpha");
  expect_refused<spo::InvalidArgument>([&] { attach_lora(*model, config(4, INFINITY), at::kCPU); }, "alpha");
  EXPECT_TRUE(find_lora(*model).layers.empty()) << "a refused attach must leave nothing behind";
}

TEST(LoraAttach, MixedPrecisionKeepsTheBranchAndItsGradientsInFp32) {
  torch::manual_seed(3);
  const auto bf16 = at::TensorOptions().dtype(at::kBFloat16);
  Linear linear(16, 8, true, bf16);
  {
    torch::NoGradGuard no_grad;
    linear->weight.normal_();
    linear->bias.normal_();
  }
  linear->weight.requires_grad_(false);
  linear->bias.requires_grad_(false);
  torch::nn::Sequential holder;  // attach_lora walks sub-modules, so wrap the layer
  holder->push_back("proj", linear);
  LoraConfig c = config(4, 4);
  c.targets = {"proj"};
  const LoraSet set = attach_lora(*holder, c, at::kCPU);
  ASSERT_EQ(set.layers.size(), 1u);
  randomise_up(set, 1);
  const at::Tensor x = torch::randn({3, 16}).to(at::kBFloat16);
  const at::Tensor y = linear(x);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  // The reference: base in bf16, branch in fp32, summed in fp32.
  const auto& b = *set.layers[0].branch;
  const at::Tensor expected =
      (at::linear(x, linear->weight, linear->bias).to(at::kFloat) +
       at::linear(at::linear(x.to(at::kFloat), b.down), b.up) * b.scale)
          .to(at::kBFloat16);
  EXPECT_TRUE(torch::equal(y, expected));
  y.to(at::kFloat).sum().backward();
  EXPECT_EQ(b.down.grad().scalar_type(), at::kFloat);
  EXPECT_EQ(b.up.grad().scalar_type(), at::kFloat);
  EXPECT_GT(b.down.grad().abs().sum().item<double>(), 0);
}

TEST(LoraPeft, DiffusersFileMatchesPeftOnAndOffAndMerged) {
  Inputs in;
  auto model = tiny_unet();
  const auto loaded = load_lora(fixture("pytorch_lora_weights.safetensors"), *model);
  ASSERT_EQ(loaded.set.layers.size(), 32u);  // 4 transformer blocks x 2 attentions x 4 projections
  for (const auto& l : loaded.set.layers) {
    EXPECT_EQ(l.branch->rank(), 4);
    EXPECT_DOUBLE_EQ(l.branch->alpha, 8);  // from lora_adapter_metadata
    EXPECT_DOUBLE_EQ(l.branch->scale, 2);
  }
  EXPECT_LE(max_diff(in.run(model), in.io->tensor("expected")), 1e-4);
  set_lora_enabled(*model, false);
  EXPECT_LE(max_diff(in.run(model), in.io->tensor("expected_base")), 1e-4);
  set_lora_enabled(*model, true);
  EXPECT_EQ(merge_lora(*model), 32);
  EXPECT_TRUE(find_lora(*model).layers.empty());
  EXPECT_LE(max_diff(in.run(model), in.io->tensor("expected")), 1e-4) << "merged weights";
}

TEST(LoraPeft, OlderDiffusersAndPeftStateDictKeysLoad) {
  Inputs in;
  // lora.down / lora.up, no metadata: alpha = rank (the fixture's lora_B carries the 2x).
  auto old_style = tiny_unet();
  const auto a = load_lora(fixture("old_style.safetensors"), *old_style);
  EXPECT_DOUBLE_EQ(a.set.layers.at(0).branch->scale, 1.0);
  EXPECT_LE(max_diff(in.run(old_style), in.io->tensor("expected")), 1e-4);
  // X.lora_A.default.weight without prefix, alpha from X.alpha tensors.
  auto peft_default = tiny_unet();
  const auto b = load_lora(fixture("peft_default.safetensors"), *peft_default);
  EXPECT_DOUBLE_EQ(b.set.layers.at(0).branch->scale, 2.0);
  EXPECT_LE(max_diff(in.run(peft_default), in.io->tensor("expected")), 1e-4);
}

TEST(LoraFile, RoundTripsHereAndLoadsInDiffusers) {
  TempDir tmp;
  Inputs in;
  auto model = tiny_unet();
  const LoraSet set = attach_lora(*model, config(4, 8, 5), at::kCPU);  // alpha != rank: metadata must carry it
  randomise_up(set, 9);
  const at::Tensor out = in.run(model);
  save_lora(tmp.file("lora.safetensors"), *model);

  auto reloaded = tiny_unet();
  const auto loaded = load_lora(tmp.file("lora.safetensors"), *reloaded);
  ASSERT_EQ(loaded.set.layers.size(), set.layers.size());
  for (size_t i = 0; i < set.layers.size(); ++i) {
    EXPECT_EQ(loaded.set.layers[i].name, set.layers[i].name);
    EXPECT_DOUBLE_EQ(loaded.set.layers[i].branch->scale, 2.0);
  }
  EXPECT_TRUE(torch::equal(in.run(reloaded), out));

  // The same file through diffusers' load_lora_weights path must give this output.
  spo::io::save_safetensors(tmp.file("io.safetensors"), {{"sample", in.io->tensor("sample")},
                                                         {"timesteps", in.io->tensor("timesteps")},
                                                         {"encoder_hidden_states", in.io->tensor("encoder_hidden_states")},
                                                         {"expected", out}});
  const auto check = [&](const std::string& io_file) {
    const std::string command = std::string("OMP_NUM_THREADS=1 \"") + SPO_PYTHON + "\" \"" + SPO_SOURCE_DIR +
                                "/test/python/check_lora_file.py\" \"" + fixture("unet") + "\" \"" +
                                tmp.file("lora.safetensors") + "\" \"" + io_file + "\"";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(check(tmp.file("io.safetensors")), 0) << "diffusers gives another output for this LoRA file";
  // The check must be able to fail: the fixture's expected output belongs to another LoRA.
  EXPECT_EQ(check(fixture("io.safetensors")), 1);
}

TEST(LoraFile, WritesDiffusersKeysAndAdapterMetadata) {
  TempDir tmp;
  auto model = tiny_unet();
  attach_lora(*model, config(4, 8), at::kCPU);
  save_lora(tmp.file("lora.safetensors"), *model);
  const auto file = spo::io::SafeTensorsFile::open(tmp.file("lora.safetensors"));
  ASSERT_TRUE(file->find("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight"));
  ASSERT_TRUE(file->find("unet.up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_out.0.lora_B.weight"));
  EXPECT_EQ(file->entries().size(), 64u);
  for (const auto& e : file->entries()) EXPECT_EQ(e.dtype, at::kFloat) << e.name;
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const Json meta = Json::parse(file->metadata().at("lora_adapter_metadata"));
  EXPECT_EQ(meta.at("unet.r"), 4);
  EXPECT_EQ(meta.at("unet.lora_alpha"), 8);
  EXPECT_EQ(meta.at("unet.target_modules").size(), 32u);

  expect_refused<spo::InvalidArgument>([&] { save_lora(tmp.file("none.safetensors"), *tiny_unet()); }, "no LoRA");
}

TEST(LoraFile, RefusesMalformedFilesClearlyAndAttachesNothing) {
  TempDir tmp;
  auto model = tiny_unet();
  const std::string q = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
  const at::Tensor down = torch::zeros({4, 32}), up = torch::zeros({32, 4});  // to_q: 32 -> 32
  auto write = [&](const std::string& name, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const std::map<std::string, std::string>& metadata = {}) {
    spo::io::save_safetensors(tmp.file(name), tensors, metadata);
    return tmp.file(name);
  };
  auto refuses = [&](const std::string& path, const std::string& needle) {
    expect_refused<spo::InvalidArgument>([&] { load_lora(path, *model); }, needle);
    EXPECT_TRUE(find_lora(*model).layers.empty()) << path;
  };
  refuses(write("unknown.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", up},
                                        {"unet.nowhere.to_q.lora_A.weight", down}}),
          "unet.nowhere.to_q.lora_A.weight");
  refuses(write("not_linear.safetensors", {{"unet.down_blocks.0.resnets.0.norm1.lora_A.weight", down}}), "norm1");
  refuses(write("bad_down.safetensors", {{q + ".lora_A.weight", torch::zeros({4, 31})}, {q + ".lora_B.weight", up}}),
          q + ".lora_A.weight' has shape [4, 31]");
  refuses(write("bad_up.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", torch::zeros({32, 3})}}),
          q + ".lora_B.weight' has shape [32, 3]");
  refuses(write("conv.safetensors", {{q + ".lora_A.weight", torch::zeros({4, 32, 1, 1})}, {q + ".lora_B.weight", up}}),
          "has shape [4, 32, 1, 1]");
  refuses(write("no_up.safetensors", {{q + ".lora_A.weight", down}}), "no up (lora_B)");
  refuses(write("no_down.safetensors", {{q + ".lora_B.weight", up}}), "no down (lora_A)");
  refuses(write("odd_key.safetensors", {{q + ".weight", down}}), "unrecognised LoRA key");
  refuses(write("nan.safetensors", {{q + ".lora_A.weight", torch::full({4, 32}, NAN)}, {q + ".lora_B.weight", up}}),
          "non-finite");
  refuses(write("int.safetensors", {{q + ".lora_A.weight", torch::zeros({4, 32}, torch::kLong)}}), "floating-point");
  refuses(write("bad_alpha.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", up},
                                          {q + ".alpha", torch::tensor({-1.0})}}),
          q + ".alpha");
  refuses(write("only_text.safetensors", {{"text_encoder.text_model.q_proj.lora_A.weight", down}}), "no LoRA weights");
  refuses(write("bad_meta.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", up}},
                {{"lora_adapter_metadata", "{not json"}}),
          "lora_adapter_metadata");
  refuses(write("bad_alpha_meta.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", up}},
                {{"lora_adapter_metadata", R"({"unet.lora_alpha": "eight"})"}}),
          "lora_alpha");
  expect_refused<spo::Unsupported>(
      [&] { load_lora(write("kohya.safetensors", {{"lora_unet_down_blocks_0_attn1_to_q.lora_down.weight", down}}), *model); },
      "kohya");
  expect_refused<spo::Unsupported>(
      [&] {
        load_lora(write("dora.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", up}},
                        {{"lora_adapter_metadata", R"({"unet.use_dora": true})"}}),
                  *model);
      },
      "DoRA");

  // Not a safetensors file at all, or a missing one: a spo::Error, never a crash.
  { std::ofstream(tmp.file("garbage.safetensors")) << std::string("\x10\0\0\0\0\0\0\0{{{{garbage", 19); }
  EXPECT_THROW(load_lora(tmp.file("garbage.safetensors"), *model), spo::Error);
  EXPECT_THROW(load_lora(tmp.file("missing.safetensors"), *model), spo::Error);
  EXPECT_THROW(load_lora(tmp.file("lora.bin"), *model), spo::Unsupported);

  // A model that already has LoRA.
  attach_lora(*model, config(4, 4), at::kCPU);
  expect_refused<spo::InvalidArgument>(
      [&] { load_lora(write("ok.safetensors", {{q + ".lora_A.weight", down}, {q + ".lora_B.weight", up}}), *model); },
      "already has a LoRA");
}

TEST(LoraKeys, ParsesTheStylesDiffusersAccepts) {
  const std::string m = "mid_block.attentions.0.transformer_blocks.0.attn2";
  auto parse = [](const std::string& key) { return parse_lora_key(key, "unet"); };
  EXPECT_EQ(parse("unet." + m + ".to_k.lora_A.weight")->module, m + ".to_k");
  EXPECT_EQ(parse("unet." + m + ".to_k.lora_B.weight")->kind, LoraTensorKind::Up);
  EXPECT_EQ(parse("unet." + m + ".to_k.lora.down.weight")->kind, LoraTensorKind::Down);
  EXPECT_EQ(parse(m + ".to_out.0.lora_A.default.weight")->module, m + ".to_out.0");
  EXPECT_EQ(parse("base_model.model." + m + ".to_v.lora_B.weight")->module, m + ".to_v");
  EXPECT_EQ(parse("unet." + m + ".processor.to_out_lora.up.weight")->module, m + ".to_out.0");
  EXPECT_EQ(parse("unet." + m + ".processor.to_q_lora.down.weight")->kind, LoraTensorKind::Down);
  EXPECT_EQ(parse("unet." + m + ".to_q.alpha")->kind, LoraTensorKind::Alpha);
  EXPECT_FALSE(parse("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight").has_value());
  EXPECT_THROW(parse("unet." + m + ".to_q.lora_B.bias"), spo::Unsupported);
  EXPECT_THROW(parse("unet." + m + ".to_q.lora_magnitude_vector"), spo::Unsupported);
  EXPECT_THROW(parse(".lora_A.weight"), spo::InvalidArgument);
  EXPECT_EQ(lora_key_name("unet", m + ".to_q", LoraTensorKind::Down), "unet." + m + ".to_q.lora_A.weight");
}

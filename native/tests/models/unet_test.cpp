// UNet2DConditionModel: state-dict keys and shapes against the real SD-1.5 /
// SDXL manifests (built on the meta device), numbers against diffusers on tiny
// random models, and clear refusals of bad configs and inputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/unet_2d_condition.h"
#include "models/unet_loading.h"
#include "runtime/errors.h"

using namespace spo::models;
using Json = nlohmann::json;

namespace {

Json read_manifest(const std::string& name) {
  std::ifstream in(std::string(SPO_MANIFEST_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << "missing manifest " << name;
  return Json::parse(in);
}

spo::io::ShapeList manifest_shapes(const Json& manifest) {
  spo::io::ShapeList out;
  for (const auto& [key, shape] : manifest.items()) out.emplace_back(key, shape.get<std::vector<int64_t>>());
  return out;
}

void expect_manifest_match(const std::string& name) {
  const auto meta = at::TensorOptions().device(at::kMeta).dtype(at::kFloat);
  UNet2DConditionModel model(unet_config_from_json(read_manifest(name + ".config.json")), meta);
  for (const auto& p : model->parameters()) ASSERT_TRUE(p.is_meta()) << "a parameter was allocated";
  const auto actual = state_shapes(*model);
  const auto expected = manifest_shapes(read_manifest(name + ".json"));
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_EQ(spo::io::describe_differences(actual, expected), "");
}

std::string fixture_dir() { return std::string(SPO_FIXTURE_ROOT) + "/models/unet"; }

// A tiny SD-1.5-like config, for the refusal tests.
Json tiny_config() {
  return Json::parse(R"({
    "_class_name": "UNet2DConditionModel", "sample_size": 8, "in_channels": 4, "out_channels": 4,
    "block_out_channels": [32, 64], "layers_per_block": 1,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 32, "attention_head_dim": 4, "norm_num_groups": 8})");
}

template <typename E>
void expect_refused(const Json& config, const std::string& needle) {
  try {
    unet_config_from_json(config);
    ADD_FAILURE() << "accepted: " << config.dump();
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for " << needle << ": " << e.what();
  }
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double diff = (actual - expected).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4) << what << ": max abs difference " << diff << " (output scale "
                        << expected.abs().max().item<double>() << ")";
}

void check_against_diffusers(const std::string& name, bool sdxl) {
  const std::string dir = fixture_dir() + "/" + name;
  auto model = load_unet(dir, at::TensorOptions().dtype(at::kFloat));
  auto io = spo::io::SafeTensorsFile::open(fixture_dir() + "/" + name + "_io.safetensors");
  UNetAddedConditions added;
  if (sdxl) {
    added.text_embeds = io->tensor("text_embeds");
    added.time_ids = io->tensor("time_ids");
  }
  torch::NoGradGuard no_grad;
  const at::Tensor sample = io->tensor("sample"), context = io->tensor("encoder_hidden_states");
  expect_close(model(sample, io->tensor("timesteps"), context, added), io->tensor("expected"), name);
  // A 0-d integer timestep broadcast over the batch.
  expect_close(model(sample, torch::tensor(10, torch::kLong), context, added), io->tensor("expected_t10"),
               name + " (t = 10)");
}

}  // namespace

TEST(UnetManifest, Sd15KeysAndShapesOnMeta) { expect_manifest_match("sd15_unet"); }

TEST(UnetManifest, SdxlKeysAndShapesOnMeta) { expect_manifest_match("sdxl_unet"); }

TEST(UnetConfig, ReadsTheLegacyHeadCountAndPerBlockLists) {
  const auto sd15 = unet_config_from_json(read_manifest("sd15_unet.config.json"));
  EXPECT_EQ(sd15.num_heads, (std::vector<int64_t>{8, 8, 8, 8}));  // 320/8 = 40-wide heads
  EXPECT_EQ(sd15.cross_attention_dim, (std::vector<int64_t>{768, 768, 768, 768}));
  EXPECT_FALSE(sd15.has_text_time());
  const auto xl = unet_config_from_json(read_manifest("sdxl_unet.config.json"));
  EXPECT_EQ(xl.num_heads, (std::vector<int64_t>{5, 10, 20}));  // 64-wide heads everywhere
  EXPECT_EQ(xl.transformer_layers_per_block, (std::vector<int64_t>{1, 2, 10}));
  EXPECT_TRUE(xl.use_linear_projection);
  EXPECT_TRUE(xl.has_text_time());
  EXPECT_EQ(xl.projection_class_embeddings_input_dim, 2816);
}

TEST(UnetDiffusers, Sd15LikeMatches) { check_against_diffusers("sd15_tiny", false); }

TEST(UnetDiffusers, SdxlLikeMatches) { check_against_diffusers("sdxl_tiny", true); }

TEST(UnetDiffusers, OddSizesAndNonDefaultEmbeddingMatch) { check_against_diffusers("sd15_odd", false); }

TEST(UnetConfig, RefusesBadConfigsClearly) {
  using spo::InvalidArgument;
  using spo::Unsupported;
  auto with = [](const char* key, const Json& value) {
    Json c = tiny_config();
    c[key] = value;
    return c;
  };
  expect_refused<InvalidArgument>(Json::array(), "JSON object");
  expect_refused<InvalidArgument>(with("block_out_channels", Json::array({32})), "block_out_channels");
  expect_refused<InvalidArgument>(with("block_out_channels", Json::array({32, -64})), "block_out_channels");
  expect_refused<InvalidArgument>(with("block_out_channels", Json::array({32, 1e12})), "block_out_channels");
  expect_refused<InvalidArgument>(with("layers_per_block", 0), "layers_per_block");
  expect_refused<InvalidArgument>(with("layers_per_block", 2.5), "layers_per_block");
  expect_refused<InvalidArgument>(with("layers_per_block", "two"), "layers_per_block");
  expect_refused<InvalidArgument>(with("attention_head_dim", 5), "attention_head_dim");  // 5 does not divide 32
  expect_refused<InvalidArgument>(with("attention_head_dim", Json::array({4, 4, 4})), "attention_head_dim");
  expect_refused<InvalidArgument>(with("num_attention_heads", 4), "num_attention_heads");
  expect_refused<InvalidArgument>(with("norm_num_groups", 7), "norm_num_groups");
  expect_refused<InvalidArgument>(with("norm_eps", -1), "norm_eps");
  expect_refused<InvalidArgument>(with("cross_attention_dim", 0), "cross_attention_dim");
  expect_refused<InvalidArgument>(with("transformer_layers_per_block", 100000), "transformer_layers_per_block");
  expect_refused<InvalidArgument>(with("in_channels", 0), "in_channels");
  expect_refused<InvalidArgument>(with("up_block_types", Json::array({"UpBlock2D"})), "up_block_types");
  expect_refused<InvalidArgument>(with("conv_in_kernel", 4), "conv_in_kernel");
  expect_refused<InvalidArgument>(with("use_linear_projection", "yes"), "use_linear_projection");
  expect_refused<Unsupported>(with("down_block_types", Json::array({"AttnDownBlock2D", "DownBlock2D"})),
                              "AttnDownBlock2D");
  expect_refused<Unsupported>(with("mid_block_type", "UNetMidBlock2DSimpleCrossAttn"), "mid_block_type");
  expect_refused<Unsupported>(with("class_embed_type", "timestep"), "class_embed_type");
  expect_refused<Unsupported>(with("time_cond_proj_dim", 256), "time_cond_proj_dim");
  expect_refused<Unsupported>(with("only_cross_attention", true), "only_cross_attention");
  expect_refused<Unsupported>(with("dual_cross_attention", true), "dual_cross_attention");
  expect_refused<Unsupported>(with("resnet_time_scale_shift", "scale_shift"), "resnet_time_scale_shift");
  expect_refused<Unsupported>(with("addition_embed_type", "text"), "addition_embed_type");
  expect_refused<Unsupported>(with("act_fn", "mish"), "act_fn");
  expect_refused<Unsupported>(with("_class_name", "UNet2DModel"), "_class_name");
  expect_refused<Unsupported>(with("transformer_layers_per_block", Json::array({Json::array({1}), Json::array({1})})),
                              "transformer_layers_per_block");
  expect_refused<Unsupported>(with("cross_attention_dim", Json::array({32, 64})), "cross_attention_dim");
  Json text_time = with("addition_embed_type", "text_time");
  expect_refused<InvalidArgument>(text_time, "addition_time_embed_dim");
  text_time["addition_time_embed_dim"] = 8;
  text_time["projection_class_embeddings_input_dim"] = 4;
  expect_refused<InvalidArgument>(text_time, "projection_class_embeddings_input_dim");
  // A hand-made config gets the same checks from the constructor.
  UNetConfig bad = unet_config_from_json(tiny_config());
  bad.num_heads = {3, 4};
  EXPECT_THROW(UNet2DConditionModel(bad, at::TensorOptions().device(at::kMeta)), spo::InvalidArgument);
}

TEST(UnetInputs, RefusesInputsThatDoNotFit) {
  torch::manual_seed(0);
  UNet2DConditionModel model(unet_config_from_json(tiny_config()), at::TensorOptions().dtype(at::kFloat));
  for (auto& p : model->parameters()) p.data().normal_(0, 0.02);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 4, 8, 8}), ctx = torch::randn({2, 3, 32}), t = torch::tensor({1.0, 2.0});
  EXPECT_EQ(model(x, t, ctx).sizes(), x.sizes());
  EXPECT_THROW(model(torch::randn({2, 3, 8, 8}), t, ctx), spo::InvalidArgument);       // channels
  EXPECT_THROW(model(torch::randn({4, 8, 8}), t, ctx), spo::InvalidArgument);          // rank
  EXPECT_THROW(model(x, torch::tensor({1.0, 2.0, 3.0}), ctx), spo::InvalidArgument);  // timestep count
  EXPECT_THROW(model(x, torch::ones({2, 1}), ctx), spo::InvalidArgument);              // timestep rank
  EXPECT_THROW(model(x, t, torch::randn({2, 3, 16})), spo::InvalidArgument);           // context width
  EXPECT_THROW(model(x, t, torch::randn({1, 3, 32})), spo::InvalidArgument);           // context batch
  EXPECT_THROW(model(x, t, at::Tensor()), spo::InvalidArgument);
  UNetAddedConditions added{torch::randn({2, 16}), torch::randn({2, 6})};
  EXPECT_THROW(model(x, t, ctx, added), spo::InvalidArgument);  // no added conditioning in this model

  Json xl = tiny_config();
  xl["addition_embed_type"] = "text_time";
  xl["addition_time_embed_dim"] = 8;
  xl["projection_class_embeddings_input_dim"] = 16 + 6 * 8;
  UNet2DConditionModel sdxl(unet_config_from_json(xl), at::TensorOptions().dtype(at::kFloat));
  for (auto& p : sdxl->parameters()) p.data().normal_(0, 0.02);
  EXPECT_EQ(sdxl(x, t, ctx, added).sizes(), x.sizes());
  EXPECT_THROW(sdxl(x, t, ctx), spo::InvalidArgument);                                                  // missing
  EXPECT_THROW(sdxl(x, t, ctx, UNetAddedConditions{torch::randn({2, 16}), torch::randn({2, 5})}), spo::InvalidArgument);  // width
  EXPECT_THROW(sdxl(x, t, ctx, UNetAddedConditions{torch::randn({1, 16}), torch::randn({1, 6})}), spo::InvalidArgument);  // batch
}

TEST(UnetLoading, RefusesAMissingDirectoryBadConfigAndMismatchedWeights) {
  EXPECT_THROW(load_unet("/nonexistent/unet", at::TensorOptions()), spo::Error);
  const auto dir = std::filesystem::temp_directory_path() / ("spo_unet_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(fixture_dir() + "/sd15_tiny/diffusion_pytorch_model.safetensors",
                             dir / "diffusion_pytorch_model.safetensors");
  auto write_config = [&](const Json& config) { std::ofstream(dir / "config.json") << config.dump(); };
  Json config = Json::parse(std::ifstream(fixture_dir() + "/sd15_tiny/config.json"));
  config["norm_num_groups"] = 7;
  write_config(config);
  try {
    load_unet(dir.string(), at::TensorOptions());
    ADD_FAILURE() << "a bad config was accepted";
  } catch (const spo::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();  // names the file
  }
  config["norm_num_groups"] = 8;
  config["layers_per_block"] = 2;  // more resnets than the weights hold: missing keys
  write_config(config);
  try {
    load_unet(dir.string(), at::TensorOptions());
    ADD_FAILURE() << "weights with missing keys were accepted";
  } catch (const spo::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// Rough CPU timing of one SD-1.5 forward at 32x32 latents, batch 1 (random weights).
TEST(UnetEmbeddings, SinusoidFollowsTheFormulaForOddSizesAndBothOrders) {
  const auto t = torch::tensor({0.0, 3.0, 999.0});
  for (bool flip : {false, true}) {
    for (double shift : {0.0, 1.0}) {
      const at::Tensor emb = timestep_sinusoid(t, 7, flip, shift);  // half = 3, plus one zero column
      ASSERT_EQ(emb.sizes(), (std::vector<int64_t>{3, 7}));
      for (int64_t n = 0; n < 3; ++n) {
        for (int64_t i = 0; i < 3; ++i) {
          const double arg = t[n].item<double>() * std::exp(-std::log(10000.0) * i / (3 - shift));
          const double first = flip ? std::cos(arg) : std::sin(arg), second = flip ? std::sin(arg) : std::cos(arg);
          EXPECT_NEAR(emb[n][i].item<double>(), first, 1e-4);
          EXPECT_NEAR(emb[n][i + 3].item<double>(), second, 1e-4);
        }
        EXPECT_EQ(emb[n][6].item<double>(), 0.0);
      }
    }
  }
  EXPECT_THROW(timestep_sinusoid(torch::ones({2, 2}), 8, true, 0), spo::InvalidArgument);
}

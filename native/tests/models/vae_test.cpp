// AutoencoderKL: state-dict keys and shapes against the real SD-1.5 / SDXL
// manifests (built on the meta device), numbers against diffusers on a tiny
// random VAE (test/python/fixtures_vae.py), the pre-0.14 attention names,
// the latent distribution and scaling, and refusals of bad configs and inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "io/json_file.h"
#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/autoencoder_kl_loading.h"
#include "runtime/errors.h"

using namespace spo;
using namespace spo::models;
using nlohmann::json;

namespace {

const at::TensorOptions kMeta = at::TensorOptions().device(at::kMeta).dtype(at::kFloat);
const at::TensorOptions kCpu = at::TensorOptions().dtype(at::kFloat);

std::string manifest(const std::string& name) { return std::string(SPO_MANIFEST_DIR) + "/" + name; }

io::ShapeList manifest_shapes(const std::string& name) {
  io::ShapeList out;
  const io::Json json = io::read_json(manifest(name + ".json"));  // kept alive: items() only views it
  for (const auto& [key, shape] : json.items())
    out.emplace_back(key, shape.get<std::vector<int64_t>>());
  return out;
}

std::string fixture_dir() { return std::string(SPO_FIXTURE_ROOT) + "/models/vae"; }

std::shared_ptr<io::SafeTensorsFile> reference() {
  const std::string path = fixture_dir() + "/tiny_reference.safetensors";
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "missing fixture " << path << ": run test/python/fixtures_vae.py (make(\"" << fixture_dir()
                  << "\"))";
    return nullptr;
  }
  return io::SafeTensorsFile::open(path);
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what, double tol = 1e-4) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double err = (actual.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>();
  EXPECT_LT(err, tol) << what << ": max abs error " << err;
}

void check_manifest(const std::string& name, double scaling_factor) {
  const auto config = AutoencoderKLConfig::from_json(io::read_json(manifest(name + ".config.json")));
  EXPECT_DOUBLE_EQ(config.scaling_factor, scaling_factor);
  AutoencoderKL vae(config, kMeta);
  EXPECT_EQ(io::describe_differences(state_shapes(*vae), manifest_shapes(name)), "");
  for (const auto& p : vae->parameters()) ASSERT_TRUE(p.is_meta()) << "weight memory allocated";
  EXPECT_EQ(vae->downscale_factor(), 8);
}

json tiny_config() {
  return {{"block_out_channels", {8, 16}},
          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D"}},
          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D"}},
          {"norm_num_groups", 4},
          {"layers_per_block", 1}};
}

// The message of the spo::Error `config` is refused with ("" when accepted).
std::string refusal(const json& config) {
  try {
    AutoencoderKLConfig::from_json(config, "vae/config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(VaeManifest, Sd15KeysAndShapesOnMeta) { check_manifest("sd15_vae", 0.18215); }

TEST(VaeManifest, SdxlKeysAndShapesOnMeta) { check_manifest("sdxl_vae", 0.13025); }

TEST(VaeConfig, ReadsDefaultsAndOptionalFields) {
  const auto d = AutoencoderKLConfig::from_json(json::object());
  EXPECT_EQ(d.block_out_channels, (std::vector<int64_t>{64}));
  EXPECT_EQ(d.layers_per_block, 1);
  EXPECT_EQ(d.latent_channels, 4);
  EXPECT_DOUBLE_EQ(d.scaling_factor, 0.18215);
  EXPECT_FALSE(d.shift_factor.has_value());
  EXPECT_TRUE(d.mid_block_add_attention && d.use_quant_conv && d.use_post_quant_conv && d.force_upcast);

  json j = tiny_config();
  j["shift_factor"] = 0.5;
  j["use_quant_conv"] = false;
  j["mid_block_add_attention"] = false;
  j["latents_mean"] = nullptr;  // diffusers writes nulls for unused fields
  const auto c = AutoencoderKLConfig::from_json(j);
  ASSERT_TRUE(c.shift_factor.has_value());
  EXPECT_DOUBLE_EQ(*c.shift_factor, 0.5);
  AutoencoderKL vae(c, kMeta);
  bool has_quant = false, has_attention = false;
  for (const auto& [key, shape] : state_shapes(*vae)) {
    has_quant |= key.rfind("quant_conv.", 0) == 0;
    has_attention |= key.find("attentions") != std::string::npos;
  }
  EXPECT_FALSE(has_quant);
  EXPECT_FALSE(has_attention);
  EXPECT_TRUE(vae->post_quant_conv);
}

TEST(VaeConfig, RefusesBadConfigsNamingTheField) {
  auto bad = [](const char* key, json value) {
    json j = tiny_config();
    j[key] = std::move(value);
    return refusal(j);
  };
  EXPECT_EQ(refusal(tiny_config()), "");
  EXPECT_NE(bad("down_block_types", {"DownEncoderBlock2D", "AttnDownEncoderBlock2D"}).find("AttnDownEncoderBlock2D"),
            std::string::npos);
  EXPECT_NE(bad("up_block_types", {"UpDecoderBlock2D", "Nope"}).find("Nope"), std::string::npos);
  EXPECT_NE(bad("block_out_channels", {8, 0}).find("block_out_channels"), std::string::npos);
  EXPECT_NE(bad("block_out_channels", {8, 18}).find("norm_num_groups"), std::string::npos);  // 18 % 4
  EXPECT_NE(bad("block_out_channels", {8, 16, 32}).find("down_block_types"), std::string::npos);
  EXPECT_NE(bad("block_out_channels", json::array()).find("block_out_channels"), std::string::npos);
  EXPECT_NE(bad("latent_channels", 0).find("latent_channels"), std::string::npos);
  EXPECT_NE(bad("in_channels", -3).find("in_channels"), std::string::npos);
  EXPECT_NE(bad("norm_num_groups", 0).find("norm_num_groups"), std::string::npos);
  EXPECT_NE(bad("layers_per_block", 0).find("layers_per_block"), std::string::npos);
  EXPECT_NE(bad("layers_per_block", "2").find("must be an integer"), std::string::npos);
  EXPECT_NE(bad("layers_per_block", 1.5).find("must be an integer"), std::string::npos);
  EXPECT_NE(bad("block_out_channels", "8,16").find("list of integers"), std::string::npos);
  EXPECT_NE(bad("down_block_types", {1, 2}).find("list of strings"), std::string::npos);
  EXPECT_NE(bad("scaling_factor", "0.18").find("scaling_factor"), std::string::npos);
  EXPECT_NE(bad("scaling_factor", -1.0).find("scaling_factor"), std::string::npos);
  EXPECT_NE(bad("force_upcast", 1).find("true or false"), std::string::npos);
  EXPECT_NE(bad("act_fn", "tanh").find("act_fn"), std::string::npos);
  EXPECT_NE(bad("latents_mean", {0.1, 0.2, 0.3, 0.4}).find("latents_mean"), std::string::npos);
  EXPECT_NE(refusal(json::array()).find("JSON object"), std::string::npos);
  EXPECT_NE(bad("block_out_channels", {8, 18}).find("vae/config.json"), std::string::npos);  // names the file
}

TEST(VaeDiffusers, EncodeAndDecodeMatch) {
  auto ref = reference();
  if (!ref) return;
  AutoencoderKL vae = load_autoencoder_kl(fixture_dir() + "/tiny", kCpu);
  torch::NoGradGuard no_grad;
  const auto dist = vae->encode(ref->tensor("image"));  // 32 x 24: odd sides after one downsample
  expect_close(dist.mean, ref->tensor("mean"), "mean");
  expect_close(dist.logvar, ref->tensor("logvar"), "logvar");
  expect_close(dist.sample(ref->tensor("noise")), ref->tensor("sample"), "sample");
  expect_close(vae->decode(ref->tensor("latent")), ref->tensor("decoded"), "decoded");
}

TEST(VaeDiffusers, LegacyAttentionNamesLoad) {
  auto ref = reference();
  if (!ref) return;
  AutoencoderKL vae = load_autoencoder_kl(fixture_dir() + "/tiny_legacy", kCpu);
  torch::NoGradGuard no_grad;
  expect_close(vae->encode(ref->tensor("image")).mean, ref->tensor("mean"), "legacy mean");
  expect_close(vae->decode(ref->tensor("latent")), ref->tensor("decoded"), "legacy decoded");
  EXPECT_EQ(autoencoder_kl_legacy_renames().at("decoder.mid_block.attentions.0.proj_attn.weight"),
            "decoder.mid_block.attentions.0.to_out.0.weight");
}

TEST(VaeDiffusers, LoadsInHalfPrecision) {
  auto ref = reference();
  if (!ref) return;
  AutoencoderKL vae = load_autoencoder_kl(fixture_dir() + "/tiny", at::TensorOptions().dtype(at::kBFloat16));
  for (const auto& p : vae->parameters()) ASSERT_EQ(p.scalar_type(), at::kBFloat16);
  torch::NoGradGuard no_grad;
  const auto out = vae->decode(ref->tensor("latent").to(at::kBFloat16));
  expect_close(out, ref->tensor("decoded"), "bf16 decoded", 0.25);
}

TEST(VaeModel, LatentDistributionAndScaling) {
  json j = tiny_config();
  j["shift_factor"] = 0.25;
  AutoencoderKL vae(AutoencoderKLConfig::from_json(j), kCpu);
  torch::NoGradGuard no_grad;
  for (auto& p : vae->parameters()) p.normal_(0, 0.1);
  // Extreme conv_out bias: logvar must come out clamped to [-30, 20].
  vae->quant_conv->bias.slice(0, 4, 6).fill_(1000);
  vae->quant_conv->bias.slice(0, 6, 8).fill_(-1000);
  const auto x = torch::rand({1, 3, 16, 16}) * 2 - 1;
  const auto dist = vae->encode(x);
  EXPECT_EQ(dist.mean.sizes(), (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_EQ(dist.logvar.slice(1, 0, 2).max().item<float>(), 20.0f);
  EXPECT_EQ(dist.logvar.slice(1, 2, 4).min().item<float>(), -30.0f);
  EXPECT_TRUE(torch::allclose(dist.std(), at::exp(0.5 * dist.logvar)));
  EXPECT_TRUE(dist.mode().equal(dist.mean));

  // The same generator seed gives the same draw; the draw is mean + std * N(0, 1).
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(7), g2 = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto s1 = dist.sample(g1);
  auto noise = at::randn(dist.mean.sizes(), g2, dist.mean.options());
  EXPECT_TRUE(torch::allclose(s1, dist.mean + dist.std() * noise));
  EXPECT_THROW(dist.sample(torch::zeros({1, 4, 8, 7})), InvalidArgument);

  const auto z = torch::randn({2, 4, 3, 5});
  const auto latents = vae->scale_latents(z);
  EXPECT_TRUE(torch::allclose(latents, (z - 0.25) * 0.18215));
  EXPECT_TRUE(torch::allclose(vae->unscale_latents(latents), z, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(vae->decode_latents(latents), vae->decode(z), 1e-4, 1e-5));
  EXPECT_EQ(vae->decode(z).sizes(), (std::vector<int64_t>{2, 3, 6, 10}));
  auto g3 = at::make_generator<at::CPUGeneratorImpl>(7);
  EXPECT_TRUE(torch::allclose(vae->encode_to_latents(x, g3), vae->scale_latents(s1), 1e-5, 1e-6));
}

TEST(VaeModel, RefusesBadInputs) {
  AutoencoderKL vae(AutoencoderKLConfig::from_json(tiny_config()), kCpu);
  EXPECT_THROW(vae->encode(torch::zeros({1, 4, 8, 8})), InvalidArgument);  // wrong channels
  EXPECT_THROW(vae->encode(torch::zeros({3, 8, 8})), InvalidArgument);     // no batch
  EXPECT_THROW(vae->encode(at::Tensor()), InvalidArgument);
  EXPECT_THROW(vae->decode(torch::zeros({1, 3, 8, 8})), InvalidArgument);
  EXPECT_THROW(vae->decode(torch::zeros({1, 4, 0, 8})), InvalidArgument);
}

TEST(VaeLoading, RefusesMissingAndMismatchedDirectories) {
  EXPECT_THROW(load_autoencoder_kl(fixture_dir() + "/nowhere", kCpu), Error);
  // The tiny checkpoint under a config with another width: a shape mismatch, refused by name.
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("spo_vae_test_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  json j = tiny_config();
  j["block_out_channels"] = {8, 32};
  std::ofstream(dir + "/config.json") << j.dump();
  const std::string weights = fixture_dir() + "/tiny/diffusion_pytorch_model.safetensors";
  if (!std::filesystem::exists(weights)) return;  // reported by the fixture tests
  std::filesystem::copy_file(weights, dir + "/diffusion_pytorch_model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  try {
    load_autoencoder_kl(dir, kCpu);
    ADD_FAILURE() << "a mismatched checkpoint loaded";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
}

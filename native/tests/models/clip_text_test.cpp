// The CLIP text encoders: state-dict keys and shapes against the real SD-1.5 /
// SDXL manifests (built on the meta device), numbers against transformers on
// tiny random models (test/python/fixtures_clip_text.py), refusals of bad
// configs and inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/json_file.h"
#include "io/module_weights.h"
#include "io/safetensors.h"
#include "models/clip_text_loading.h"
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
  const json j = io::read_json(manifest(name + ".json"));
  for (auto it = j.begin(); it != j.end(); ++it) out.emplace_back(it.key(), it.value().get<std::vector<int64_t>>());
  EXPECT_GT(out.size(), 190u);
  return out;
}

bool all_meta(const torch::nn::Module& m) {
  for (const auto& p : m.parameters()) {
    if (!p.is_meta()) return false;
  }
  return true;
}

void expect_manifest(const std::string& name, bool with_projection, int64_t layers, int64_t hidden) {
  SCOPED_TRACE(name);
  const json j = io::read_json(manifest(name + ".config.json"));
  const auto config = ClipTextConfig::from_json(j, name);
  EXPECT_EQ(config.num_hidden_layers, layers);
  EXPECT_EQ(config.hidden_size, hidden);
  const std::string arch = j.at("architectures").at(0).get<std::string>();
  EXPECT_EQ(arch, with_projection ? "CLIPTextModelWithProjection" : "CLIPTextModel");

  // libtorch has no meta kernel for index_select (embedding), so only the
  // state dict is checked here; the forward's shapes are checked on fixtures.
  io::ShapeList shapes;
  if (with_projection) {
    ClipTextModelWithProjection model(config, kMeta);
    shapes = state_shapes(*model);
    EXPECT_TRUE(all_meta(*model));
  } else {
    ClipTextModel model(config, kMeta);
    shapes = state_shapes(*model);
    EXPECT_TRUE(all_meta(*model));
  }
  EXPECT_EQ(io::describe_differences(shapes, manifest_shapes(name)), "");
}

}  // namespace

TEST(ClipTextManifest, Sd15TextEncoder) { expect_manifest("sd15_text_encoder", false, 12, 768); }
TEST(ClipTextManifest, SdxlTextEncoder) { expect_manifest("sdxl_text_encoder", false, 12, 768); }
TEST(ClipTextManifest, SdxlTextEncoder2) { expect_manifest("sdxl_text_encoder_2", true, 32, 1280); }

TEST(ClipTextConfig, ReadsSd15AndDefaults) {
  const auto c = ClipTextConfig::from_json(io::read_json(manifest("sd15_text_encoder.config.json")));
  EXPECT_EQ(c.vocab_size, 49408);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.num_attention_heads, 12);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.hidden_act, "quick_gelu");
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_TRUE(c.legacy_eos_pooling());

  const auto d = ClipTextConfig::from_json(json::object());  // transformers' CLIPTextConfig() defaults
  EXPECT_EQ(d.hidden_size, 512);
  EXPECT_EQ(d.num_attention_heads, 8);
  EXPECT_EQ(d.eos_token_id, 49407);
  EXPECT_FALSE(d.legacy_eos_pooling());

  const auto n = ClipTextConfig::from_json(json{{"bos_token_id", nullptr}, {"pad_token_id", nullptr}});
  EXPECT_EQ(n.bos_token_id, -1);
  EXPECT_EQ(n.pad_token_id, -1);
}

namespace {

// Expects from_json(sd15 config with `patch` applied) to throw E with every
// string of `words` in the message.
template <typename E>
void expect_refused(const json& patch, const std::vector<std::string>& words) {
  json j = io::read_json(manifest("sd15_text_encoder.config.json"));
  j.merge_patch(patch);
  try {
    ClipTextConfig::from_json(j, "test.json");
    ADD_FAILURE() << "accepted " << patch.dump();
  } catch (const E& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("test.json"), std::string::npos) << message;
    for (const auto& w : words) EXPECT_NE(message.find(w), std::string::npos) << "'" << w << "' not in: " << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << patch.dump() << " threw the wrong type: " << e.what();
  }
}

}  // namespace

TEST(ClipTextConfig, RefusesBadValuesNamingTheField) {
  expect_refused<InvalidArgument>({{"hidden_size", 0}}, {"hidden_size", "outside"});
  expect_refused<InvalidArgument>({{"hidden_size", 770}}, {"hidden_size", "num_attention_heads", "divisible"});
  expect_refused<InvalidArgument>({{"num_hidden_layers", 1000000000}}, {"num_hidden_layers"});
  expect_refused<InvalidArgument>({{"num_hidden_layers", 0}}, {"num_hidden_layers"});
  expect_refused<InvalidArgument>({{"num_attention_heads", -12}}, {"num_attention_heads"});
  expect_refused<InvalidArgument>({{"vocab_size", 1e12}}, {"vocab_size", "integer"});
  expect_refused<InvalidArgument>({{"hidden_size", "768"}}, {"hidden_size", "integer"});
  expect_refused<InvalidArgument>({{"hidden_size", 768.5}}, {"hidden_size", "integer"});
  expect_refused<InvalidArgument>({{"intermediate_size", true}}, {"intermediate_size", "integer"});
  expect_refused<InvalidArgument>({{"max_position_embeddings", 100000}}, {"max_position_embeddings"});
  expect_refused<InvalidArgument>({{"projection_dim", 0}}, {"projection_dim"});
  expect_refused<InvalidArgument>({{"layer_norm_eps", -1.0}}, {"layer_norm_eps"});
  expect_refused<InvalidArgument>({{"layer_norm_eps", "tiny"}}, {"layer_norm_eps", "number"});
  expect_refused<InvalidArgument>({{"eos_token_id", 49408}}, {"eos_token_id", "vocab"});
  expect_refused<InvalidArgument>({{"vocab_size", 1000}, {"eos_token_id", nullptr}}, {"eos_token_id"});
  expect_refused<InvalidArgument>({{"bos_token_id", "<s>"}}, {"bos_token_id"});
  expect_refused<InvalidArgument>({{"hidden_act", 5}}, {"hidden_act", "string"});
  expect_refused<InvalidArgument>({{"model_type", "clip"}}, {"model_type", "text_config"});
  expect_refused<Unsupported>({{"hidden_act", "relu6"}}, {"hidden_act", "relu6"});
  expect_refused<Unsupported>({{"eos_token_id", {2, 3}}}, {"eos_token_id"});
  EXPECT_THROW(ClipTextConfig::from_json(json::array()), InvalidArgument);
}

TEST(ClipTextConfig, DefaultEosOutsideASmallVocabularyIsRefused) {
  // The file omits eos_token_id: transformers' default 49407 cannot be an id of 1000.
  EXPECT_THROW(ClipTextConfig::from_json(json{{"vocab_size", 1000}}), InvalidArgument);
}

namespace {

ClipTextConfig tiny_config() {
  return ClipTextConfig::from_json(json{{"vocab_size", 100}, {"hidden_size", 16}, {"intermediate_size", 24},
                                        {"projection_dim", 8}, {"num_hidden_layers", 2},
                                        {"num_attention_heads", 2}, {"max_position_embeddings", 10},
                                        {"eos_token_id", 99}});
}

void expect_input_refused(ClipTextModel& model, const at::Tensor& ids, const std::string& word) {
  try {
    model(ids);
    ADD_FAILURE() << "accepted input_ids of shape " << ids.sizes();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ClipTextModel, RefusesBadInputIds) {
  torch::manual_seed(0);
  ClipTextModel model(tiny_config(), kCpu);
  for (auto& p : model->parameters()) p.data().normal_();
  expect_input_refused(model, at::zeros({5}, at::kLong), "[batch, length]");
  expect_input_refused(model, at::zeros({1, 5}, at::kFloat), "integer");
  expect_input_refused(model, at::zeros({0, 5}, at::kLong), "empty");
  expect_input_refused(model, at::zeros({1, 11}, at::kLong), "max_position_embeddings");
  expect_input_refused(model, at::full({1, 5}, 100, at::kLong), "[0, 100)");
  expect_input_refused(model, at::full({1, 5}, -1, at::kLong), "[0, 100)");
  expect_input_refused(model, at::Tensor(), "undefined");
  // int32 ids are accepted and give the same result as int64.
  auto ids = at::randint(0, 100, {2, 7}, at::kLong);
  EXPECT_TRUE(at::equal(model(ids).last_hidden_state, model(ids.to(at::kInt)).last_hidden_state));
}

TEST(ClipTextModel, IsCausal) {
  // A token changes nothing before it, and the pooled state follows the first EOS (99 here).
  torch::manual_seed(0);
  ClipTextModel model(tiny_config(), kCpu);
  for (auto& p : model->parameters()) p.data().normal_();
  auto a = at::tensor({1, 5, 7, 99, 3, 4}, at::kLong).view({1, -1});
  auto b = a.clone();
  b.index_put_({0, 5}, 42);
  auto oa = model(a), ob = model(b);
  EXPECT_TRUE(at::allclose(oa.last_hidden_state.slice(1, 0, 5), ob.last_hidden_state.slice(1, 0, 5), 1e-6, 1e-6));
  EXPECT_FALSE(at::allclose(oa.last_hidden_state.select(1, 5), ob.last_hidden_state.select(1, 5)));
  EXPECT_TRUE(at::allclose(oa.pooled, oa.last_hidden_state.select(1, 3)));
}

namespace {

std::string fixture(const std::string& name) {
  const std::string dir = std::string(SPO_FIXTURE_ROOT) + "/models/clip_text/" + name;
  if (!std::filesystem::exists(dir + "/reference.safetensors"))
    ADD_FAILURE() << "missing fixture " << dir << ": run test/python/fixtures_clip_text.py (make(\""
                  << SPO_FIXTURE_ROOT << "/models/clip_text\"))";
  return dir;
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const char* what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double err = (actual - expected).abs().max().item<double>();
  EXPECT_LT(err, 1e-4) << what << ": max abs difference " << err;
}

void expect_matches_reference(const std::string& dir, const ClipTextOutput& out,
                              const std::shared_ptr<io::SafeTensorsFile>& ref) {
  SCOPED_TRACE(dir);
  expect_close(out.last_hidden_state, ref->tensor("last_hidden_state"), "last_hidden_state");
  expect_close(out.penultimate_hidden_state, ref->tensor("penultimate_hidden_state"), "penultimate (hidden_states[-2])");
  expect_close(out.pooled, ref->tensor("pooler_output"), "pooler_output");
  if (ref->find("text_embeds")) expect_close(out.text_embeds, ref->tensor("text_embeds"), "text_embeds");
}

void expect_text_model_matches(const std::string& name) {
  const std::string dir = fixture(name);
  if (testing::Test::HasFailure()) return;
  auto ref = io::SafeTensorsFile::open(dir + "/reference.safetensors");
  auto model = load_clip_text_model(dir, kCpu);
  at::NoGradGuard no_grad;
  expect_matches_reference(dir, model(ref->tensor("input_ids")), ref);
}

}  // namespace

// eos_token_id 2: pooled at argmax(input_ids); hub layout with the old position_ids buffer.
TEST(ClipTextModel, MatchesTransformersLegacyEos) { expect_text_model_matches("legacy_eos"); }

// eos_token_id 777 with larger ids present: pooled at the first 777; gelu; transformers 5 layout.
TEST(ClipTextModel, MatchesTransformersFirstEosGelu) { expect_text_model_matches("eos_gelu"); }

TEST(ClipTextModelWithProjection, MatchesTransformers) {
  const std::string dir = fixture("projection");
  if (HasFailure()) return;
  auto ref = io::SafeTensorsFile::open(dir + "/reference.safetensors");
  auto model = load_clip_text_model_with_projection(dir, kCpu);
  at::NoGradGuard no_grad;
  expect_matches_reference(dir, model(ref->tensor("input_ids")), ref);
}

TEST(ClipTextModel, LoadsInHalfPrecision) {
  const std::string dir = fixture("legacy_eos");
  if (HasFailure()) return;
  auto model = load_clip_text_model(dir, kCpu.dtype(at::kBFloat16));
  for (const auto& p : model->parameters()) EXPECT_EQ(p.scalar_type(), at::kBFloat16);
  auto ref = io::SafeTensorsFile::open(dir + "/reference.safetensors");
  at::NoGradGuard no_grad;
  auto out = model(ref->tensor("input_ids"));
  const double err = (out.last_hidden_state.to(at::kFloat) - ref->tensor("last_hidden_state")).abs().max().item<double>();
  EXPECT_LT(err, 0.2);  // bf16 has ~3 significant digits; this checks the wiring, not accuracy
}

TEST(ClipTextModel, RefusesMismatchedCheckpoints) {
  const std::string dir = fixture("projection");
  if (HasFailure()) return;
  // A projection checkpoint is not a plain CLIPTextModel: text_projection.weight is unexpected.
  try {
    load_clip_text_model(dir, kCpu);
    ADD_FAILURE() << "loaded a CLIPTextModelWithProjection checkpoint as CLIPTextModel";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("text_projection.weight"), std::string::npos) << e.what();
  }
  // ... and the plain model's checkpoint lacks it.
  try {
    load_clip_text_model_with_projection(fixture("legacy_eos"), kCpu);
    ADD_FAILURE() << "loaded a CLIPTextModel checkpoint as CLIPTextModelWithProjection";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("missing key: text_projection.weight"), std::string::npos) << e.what();
  }
  // A config whose sizes disagree with the weights: wrong shapes are named.
  const std::string bad = std::string(SPO_FIXTURE_ROOT) + "/models/clip_text/bad_config";
  std::filesystem::create_directories(bad);
  json config = io::read_json(dir + "/config.json");
  config["intermediate_size"] = 40;
  std::ofstream(bad + "/config.json") << config.dump();
  std::filesystem::copy_file(dir + "/model.safetensors", bad + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  try {
    load_clip_text_model_with_projection(bad, kCpu);
    ADD_FAILURE() << "loaded weights that disagree with config.json";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("mlp.fc1.weight"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_clip_text_model(std::string(SPO_FIXTURE_ROOT) + "/models/clip_text/nowhere", kCpu), Error);
}

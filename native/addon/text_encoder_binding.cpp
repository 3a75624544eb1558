#include "text_encoder_binding.h"

#include <algorithm>
#include <cstring>

#include "io/json_file.h"
#include "io/module_weights.h"
#include "job_runner.h"
#include "js_args.h"
#include "js_errors.h"
#include "models/clip_text_loading.h"
#include "runtime/errors.h"
#include "tensor_bridge.h"

namespace spo::addon {
namespace {

// Which class a directory holds: config.json's `architectures` when it names
// one, else whether the weights carry a text projection (hand-made configs).
bool HoldsProjectionModel(const std::string& dir) {
  const std::string path = dir + "/config.json";
  const auto config = io::read_json(path);
  if (io::json_has(config, "architectures")) {
    const auto names = io::json_string_list(config, "architectures", path);
    auto named = [&](const char* n) { return std::find(names.begin(), names.end(), n) != names.end(); };
    if (named("CLIPTextModelWithProjection")) return true;
    if (named("CLIPTextModel")) return false;
    if (!names.empty()) {
      throw Unsupported(path + ": architectures names " + names.front() +
                        "; a TextEncoder loads CLIPTextModel or CLIPTextModelWithProjection");
    }
  }
  for (const auto& file : io::open_component_weights(dir)) {
    if (file->find("text_projection.weight")) return true;
  }
  return false;
}

ClipTextEncoder LoadEncoder(const std::string& dir, const at::TensorOptions& options) {
  ClipTextEncoder e;
  if (HoldsProjectionModel(dir)) e.projected = models::load_clip_text_model_with_projection(dir, options);
  else e.plain = models::load_clip_text_model(dir, options);
  return e;
}

// { data: Int32Array, shape: [B, L] } (what Tokenizer.encodeBatch returns) -> int64 [B, L].
at::Tensor InputIdsFromJs(Napi::Env env, Napi::Value v) {
  auto o = RequireObject(env, v, "inputIds");
  auto data = o.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowInvalid(env, "inputIds.data must be an Int32Array");
  }
  auto ids = data.As<Napi::Int32Array>();
  auto shape_v = o.Get("shape");
  if (!shape_v.IsArray() || shape_v.As<Napi::Array>().Length() != 2) {
    ThrowInvalid(env, "inputIds.shape must be [batch, length]");
  }
  auto shape = shape_v.As<Napi::Array>();
  const int64_t b = RequireInteger(env, shape.Get(0u), "inputIds.shape[0]", 1, 1 << 20);
  const int64_t l = RequireInteger(env, shape.Get(1u), "inputIds.shape[1]", 1, 1 << 20);
  if (b * l != static_cast<int64_t>(ids.ElementLength())) {
    ThrowInvalid(env, "inputIds.shape [" + std::to_string(b) + ", " + std::to_string(l) + "] holds " +
                          std::to_string(b * l) + " ids but data has " + std::to_string(ids.ElementLength()));
  }
  auto t = at::empty({b, l}, at::kInt);
  std::memcpy(t.data_ptr<int32_t>(), ids.Data(), static_cast<size_t>(b * l) * sizeof(int32_t));
  return t.to(at::kLong);
}

}  // namespace

const models::ClipTextConfig& ClipTextEncoder::config() const {
  return has_projection() ? projected->text_model->config : plain->text_model->config;
}

models::ClipTextOutput ClipTextEncoder::forward(const at::Tensor& input_ids) {
  return has_projection() ? projected->forward(input_ids) : plain->forward(input_ids);
}

Napi::Function TextEncoderBinding::Define(Napi::Env env) {
  return DefineModel(env, {Method<&TextEncoderBinding::Forward>("forward"), Getter<&TextEncoderBinding::Config>("config")});
}

Napi::Value TextEncoderBinding::Load(const Napi::CallbackInfo& info) {
  return LoadModel(info, LoadEncoder);
}

// forward(inputIds, token?, onProgress?) ->
//   Promise<{ lastHiddenState, penultimateHiddenState, pooled, textEmbeds? }>
Napi::Value TextEncoderBinding::Forward(const Napi::CallbackInfo& info) {
  return ModelJob(
      info, [&info](Napi::Env env) { return InputIdsFromJs(env, info[0]); },
      // The model checks the ids' range and length.
      [](Loaded& encoder, const at::Tensor& ids) { return encoder.model.forward(ids); },
      [](Napi::Env e, const models::ClipTextOutput& out) -> Napi::Value {
        auto r = Napi::Object::New(e);
        r.Set("lastHiddenState", TensorToJs(e, out.last_hidden_state));
        r.Set("penultimateHiddenState", TensorToJs(e, out.penultimate_hidden_state));
        r.Set("pooled", TensorToJs(e, out.pooled));
        if (out.text_embeds.defined()) r.Set("textEmbeds", TensorToJs(e, out.text_embeds));
        return r;
      });
}

Napi::Value TextEncoderBinding::Config(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& encoder = Get(env)->model;
  const auto& c = encoder.config();
  auto o = Napi::Object::New(env);
  o.Set("architecture", encoder.has_projection() ? "CLIPTextModelWithProjection" : "CLIPTextModel");
  o.Set("vocabSize", static_cast<double>(c.vocab_size));
  o.Set("hiddenSize", static_cast<double>(c.hidden_size));
  o.Set("projectionDim", encoder.has_projection() ? Napi::Number::New(env, static_cast<double>(c.projection_dim))
                                                  : env.Null());
  o.Set("numHiddenLayers", static_cast<double>(c.num_hidden_layers));
  o.Set("maxPositionEmbeddings", static_cast<double>(c.max_position_embeddings));
  o.Set("eosTokenId", static_cast<double>(c.eos_token_id));
  return o;
}

}  // namespace spo::addon

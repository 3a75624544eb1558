#include "spo/spo_settings.h"

#include <cmath>
#include <set>

#include "runtime/errors.h"

namespace spo::trainer {

using nlohmann::json;

const char* resampler_name(Resampler r) {
  switch (r) {
    case Resampler::Random: return "random";
    case Resampler::Win: return "win";
    case Resampler::Lose: return "lose";
    case Resampler::None: return "none";
  }
  return "?";
}
const char* pair_selection_name(PairSelection p) { return p == PairSelection::BestWorst ? "best-worst" : "random"; }
const char* update_mode_name(UpdateMode m) { return m == UpdateMode::Spo ? "spo" : "parity"; }
const char* method_name(Method m) { return m == Method::Spo ? "spo" : "d3po"; }

SpoSettings SpoSettings::from_preset(const std::string& name) {
  SpoSettings s;
  if (name == "sd15") return s;
  if (name == "sdxl") {
    s.preset = "sdxl";
    s.k = 2;
    s.inner_steps = 3;
    s.threshold = 0.4;
    s.lora_rank = 64;
    s.lora_alpha = 64;
    s.learning_rate = 1e-5;
    s.sample_batch_size = 2;
    s.train_batch_size = 2;
    s.gradient_accumulation = 2;
    return s;
  }
  throw InvalidArgument("preset must be \"sd15\" or \"sdxl\", got \"" + name + "\"");
}

void SpoSettings::validate() const {
  auto in = [](const char* name, double v, double lo, double hi) {
    require(std::isfinite(v) && v >= lo && v <= hi,
            std::string("setting ") + name + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  };
  in("k", double(k), 2, 64);
  in("steps", double(steps), 1, 1000);
  in("innerSteps", double(inner_steps), 1, double(steps));
  in("divertStartStep", double(divert_start_step), 0, double(steps - 1));
  require(kappa == -1 || (kappa >= 0 && kappa < 1000), "setting kappa must be -1 (off) or in [0, 999]");
  in("threshold", threshold, 0, 0.999999);
  in("beta", beta, 1e-6, 1e6);
  require(std::isfinite(clip_eps) && clip_eps > 0 && clip_eps < 1, "setting eps must be in (0, 1)");
  in("loraRank", double(lora_rank), 1, 4096);
  require(std::isfinite(lora_alpha) && lora_alpha > 0, "setting loraAlpha must be > 0");
  require(std::isfinite(learning_rate) && learning_rate > 0 && learning_rate < 1, "setting learningRate must be in (0, 1)");
  in("adamBeta1", adam_beta1, 0, 0.999999);
  in("adamBeta2", adam_beta2, 0, 0.999999);
  in("weightDecay", weight_decay, 0, 1e3);
  require(std::isfinite(adam_eps) && adam_eps > 0, "setting adamEps must be > 0");
  in("sampleBatchSize", double(sample_batch_size), 1, 4096);
  in("trainBatchSize", double(train_batch_size), 1, 4096);
  in("gradientAccumulation", double(gradient_accumulation), 1, 4096);
  require(std::isfinite(max_grad_norm), "setting maxGradNorm must be finite");
  in("epochs", double(epochs), 1, 1e6);
  in("eta", eta, 1e-6, 10);  // eta 0 has no log-probability to train on
  in("guidanceScale", guidance_scale, 0, 100);
  in("width", double(width), 0, 16384);
  in("height", double(height), 0, 16384);
  in("maxBatch", double(max_batch), 0, 1 << 20);
}

json SpoSettings::to_json() const {
  return json{{"preset", preset}, {"k", k}, {"innerSteps", inner_steps}, {"divertStartStep", divert_start_step},
              {"kappa", kappa}, {"threshold", threshold}, {"resampler", resampler_name(resampler)},
              {"pairSelection", pair_selection_name(pair_selection)}, {"beta", beta}, {"eps", clip_eps},
              {"loraRank", lora_rank}, {"loraAlpha", lora_alpha}, {"learningRate", learning_rate},
              {"adamBeta1", adam_beta1}, {"adamBeta2", adam_beta2}, {"weightDecay", weight_decay},
              {"adamEps", adam_eps}, {"sampleBatchSize", sample_batch_size}, {"trainBatchSize", train_batch_size},
              {"gradientAccumulation", gradient_accumulation}, {"maxGradNorm", max_grad_norm},
              {"authorsNoopClip", authors_noop_clip}, {"epochs", epochs}, {"seed", seed}, {"steps", steps},
              {"eta", eta}, {"guidanceScale", guidance_scale}, {"guidanceInTraining", guidance_in_training},
              {"width", width}, {"height", height}, {"maxBatch", max_batch}, {"gradientCheckpointing", gradient_checkpointing}, {"onNonFinite", skip_non_finite ? "skip" : "stop"}, {"mode", update_mode_name(mode)}, {"method", method_name(method)}};
}

namespace {

template <typename T>
T field(const json& j, const char* key) {
  const auto& v = j.at(key);
  if constexpr (std::is_same_v<T, bool>) {
    require(v.is_boolean(), std::string("setting ") + key + " must be a boolean, got " + v.dump());
    return v.get<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    require(v.is_string(), std::string("setting ") + key + " must be a string, got " + v.dump());
    return v.get<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    require(v.is_number_integer(), std::string("setting ") + key + " must be an integer, got " + v.dump());
    if constexpr (std::is_unsigned_v<T>) require(v.get<int64_t>() >= 0 || v.is_number_unsigned(), std::string("setting ") + key + " must be >= 0");
    return v.get<T>();
  } else {
    require(v.is_number(), std::string("setting ") + key + " must be a number, got " + v.dump());
    return v.get<T>();
  }
}

}  // namespace

SpoSettings SpoSettings::from_json(const json& o) {
  require(o.is_object(), "settings must be an object");
  SpoSettings s = from_preset(o.contains("preset") ? field<std::string>(o, "preset") : "sd15");
  static const std::set<std::string> known = {
      "preset", "k", "innerSteps", "divertStartStep", "kappa", "threshold", "resampler", "pairSelection", "beta", "eps",
      "loraRank", "loraAlpha", "learningRate", "adamBeta1", "adamBeta2", "weightDecay", "adamEps", "sampleBatchSize",
      "trainBatchSize", "gradientAccumulation", "maxGradNorm", "authorsNoopClip", "epochs", "seed", "steps", "eta",
      "guidanceScale", "guidanceInTraining", "width", "height", "maxBatch", "gradientCheckpointing", "onNonFinite", "mode", "method"};
  for (const auto& [key, value] : o.items()) require(known.count(key), "unknown setting '" + key + "'");
  auto get = [&](const char* key, auto& out) {
    if (o.contains(key) && !o.at(key).is_null()) out = field<std::decay_t<decltype(out)>>(o, key);
  };
  get("k", s.k); get("innerSteps", s.inner_steps); get("divertStartStep", s.divert_start_step); get("kappa", s.kappa);
  get("threshold", s.threshold); get("beta", s.beta); get("eps", s.clip_eps); get("loraRank", s.lora_rank);
  get("loraAlpha", s.lora_alpha); get("learningRate", s.learning_rate); get("adamBeta1", s.adam_beta1);
  get("adamBeta2", s.adam_beta2); get("weightDecay", s.weight_decay); get("adamEps", s.adam_eps);
  get("sampleBatchSize", s.sample_batch_size); get("trainBatchSize", s.train_batch_size);
  get("gradientAccumulation", s.gradient_accumulation); get("maxGradNorm", s.max_grad_norm);
  get("authorsNoopClip", s.authors_noop_clip); get("epochs", s.epochs); get("seed", s.seed); get("steps", s.steps);
  get("eta", s.eta); get("guidanceScale", s.guidance_scale); get("guidanceInTraining", s.guidance_in_training);
  get("width", s.width); get("height", s.height); get("maxBatch", s.max_batch);
  get("gradientCheckpointing", s.gradient_checkpointing);
  if (o.contains("resampler")) {
    const auto r = field<std::string>(o, "resampler");
    if (r == "random") s.resampler = Resampler::Random;
    else if (r == "win") s.resampler = Resampler::Win;
    else if (r == "lose") s.resampler = Resampler::Lose;
    else if (r == "none") s.resampler = Resampler::None;
    else throw InvalidArgument("setting resampler must be \"random\", \"win\", \"lose\" or \"none\", got \"" + r + "\"");
  }
  if (o.contains("pairSelection")) {
    const auto p = field<std::string>(o, "pairSelection");
    if (p == "best-worst") s.pair_selection = PairSelection::BestWorst;
    else if (p == "random") s.pair_selection = PairSelection::Random;
    else throw InvalidArgument("setting pairSelection must be \"best-worst\" or \"random\", got \"" + p + "\"");
  }
  if (o.contains("mode")) {
    const auto m = field<std::string>(o, "mode");
    if (m == "spo") s.mode = UpdateMode::Spo;
    else if (m == "parity") s.mode = UpdateMode::Parity;
    else throw InvalidArgument("setting mode must be \"spo\" or \"parity\", got \"" + m + "\"");
  }
  if (o.contains("onNonFinite")) {
    const auto v = field<std::string>(o, "onNonFinite");
    require(v == "stop" || v == "skip", "setting onNonFinite must be \"stop\" or \"skip\", got \"" + v + "\"");
    s.skip_non_finite = v == "skip";
  }
  if (o.contains("method")) {
    const auto m = field<std::string>(o, "method");
    if (m == "spo") s.method = Method::Spo;
    else if (m == "d3po") s.method = Method::D3po;
    else throw InvalidArgument("setting method must be \"spo\" or \"d3po\", got \"" + m + "\"");
  }
  s.validate();
  return s;
}

}  // namespace spo::trainer

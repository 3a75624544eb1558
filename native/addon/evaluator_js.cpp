#include "evaluator_js.h"

#include "tensor_bridge.h"

namespace spo::addon {

std::vector<std::string> StringsFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an array of strings");
  auto arr = v.As<Napi::Array>();
  if (arr.Length() == 0 || arr.Length() > 10'000'000) ThrowInvalid(env, what + " must hold at least one string");
  std::vector<std::string> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireString(env, arr.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<int64_t> IntegersFromJs(Napi::Env env, Napi::Value v, const std::string& what, int64_t lo, int64_t hi) {
  if (!v.IsArray()) ThrowInvalid(env, what + " must be an array of integers");
  std::vector<int64_t> out;
  auto arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) out.push_back(RequireInteger(env, arr.Get(i), what, lo, hi));
  return out;
}

Napi::Array NumbersToJs(Napi::Env env, const std::vector<double>& values) {
  auto arr = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) arr.Set(static_cast<uint32_t>(i), values[i]);
  return arr;
}

std::vector<evaluator::PreferencePair> PairSetFromJs(Napi::Env env, Napi::Value v, const std::string& what) {
  auto o = RequireObject(env, v, what);
  RejectUnknownKeys(env, o, {"prompts", "images0", "images1", "preferred0"}, what);
  const auto prompts = StringsFromJs(env, o.Get("prompts"), what + ".prompts");
  const auto images0 = TensorFromJs(env, o.Get("images0"), what + ".images0");
  const auto images1 = TensorFromJs(env, o.Get("images1"), what + ".images1");
  const auto n = static_cast<int64_t>(prompts.size());
  if (images0.dim() != 4 || images0.size(0) != n || images1.sizes() != images0.sizes())
    ThrowInvalid(env, what + ": images0 and images1 must both be [" + std::to_string(n) + ", 3, H, W]");
  auto labels = o.Get("preferred0");
  if (!labels.IsArray() || labels.As<Napi::Array>().Length() != static_cast<uint32_t>(n))
    ThrowInvalid(env, what + ".preferred0 must hold one number per pair");
  std::vector<evaluator::PreferencePair> pairs;
  for (int64_t i = 0; i < n; ++i) {
    const double l = RequireNumber(env, labels.As<Napi::Array>().Get(static_cast<uint32_t>(i)),
                                   what + ".preferred0[" + std::to_string(i) + "]");
    pairs.push_back({prompts[i], images0[i], images1[i], l});
  }
  return pairs;
}

namespace {

PairSet PairSetArgument(Napi::Env env, const Napi::Object& o, const char* key) {
  return std::make_shared<const std::vector<evaluator::PreferencePair>>(PairSetFromJs(env, o.Get(key), key));
}

}  // namespace

ValidateArgs ValidateArgsFromJs(Napi::Env env, Napi::Value v) {
  ValidateArgs a{RequireObject(env, v, "validate arguments")};
  RejectUnknownKeys(env, a.o, {"pipeline", "pairs", "timesteps", "guidanceScale", "seed", "maxBatch"}, "validate arguments");
  a.pipe = PipelineBinding::Borrow(env, a.o.Get("pipeline"), "pipeline");
  a.pairs = PairSetArgument(env, a.o, "pairs");
  if (!a.o.Get("timesteps").IsUndefined()) a.timesteps = IntegersFromJs(env, a.o.Get("timesteps"), "timesteps", 0, 999);
  if (!a.o.Get("seed").IsUndefined()) a.seed = RequireSeed(env, a.o.Get("seed"), "seed");
  a.max_batch = OptionalInteger(env, a.o, "maxBatch", 0, 1 << 20).value_or(0);
  return a;
}

TrainArgs TrainArgsFromJs(Napi::Env env, Napi::Value v, const std::vector<std::string>& own_keys) {
  TrainArgs a{RequireObject(env, v, "train arguments")};
  std::vector<std::string> known{"pipeline",    "train",         "validation",    "steps",
                                 "batchSize",   "learningRate",  "weightDecay",   "warmupSteps",
                                 "maxGradNorm", "guidanceScale", "seed",          "validationTimesteps",
                                 "validateEvery", "maxBatch"};
  known.insert(known.end(), own_keys.begin(), own_keys.end());
  RejectUnknownKeys(env, a.o, known, "train arguments");
  a.pipe = PipelineBinding::Borrow(env, a.o.Get("pipeline"), "pipeline");
  a.train = PairSetArgument(env, a.o, "train");
  a.validation = a.o.Get("validation").IsUndefined() ? std::make_shared<const std::vector<evaluator::PreferencePair>>()
                                                     : PairSetArgument(env, a.o, "validation");
  return a;
}

Napi::Object ValidationReportToJs(Napi::Env env, const evaluator::ValidationReport& r) {
  auto o = Napi::Object::New(env);
  o.Set("step", static_cast<double>(r.step));
  o.Set("timesteps", NumbersToJs(env, std::vector<double>(r.timesteps.begin(), r.timesteps.end())));
  o.Set("accuracy", NumbersToJs(env, r.accuracy));
  o.Set("pairs", static_cast<double>(r.pairs));
  return o;
}

Napi::Object TrainingResultToJs(Napi::Env env, const evaluator::PreferenceTrainingResult& r) {
  auto o = Napi::Object::New(env);
  o.Set("startStep", static_cast<double>(r.start_step));
  o.Set("stepsDone", static_cast<double>(r.steps_done));
  o.Set("losses", NumbersToJs(env, r.losses));
  auto reports = Napi::Array::New(env, r.validations.size());
  for (size_t i = 0; i < r.validations.size(); ++i) reports.Set(static_cast<uint32_t>(i), ValidationReportToJs(env, r.validations[i]));
  o.Set("validations", reports);
  auto dirs = Napi::Array::New(env, r.checkpoints.size());
  for (size_t i = 0; i < r.checkpoints.size(); ++i) dirs.Set(static_cast<uint32_t>(i), r.checkpoints[i]);
  o.Set("checkpoints", dirs);
  o.Set("rank", static_cast<double>(r.rank));
  o.Set("worldSize", static_cast<double>(r.world_size));
  return o;
}

}  // namespace spo::addon

#include "pretraining/world_pretraining.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "evaluator/preference_model.h"
#include "evaluator/preference_training.h"
#include "io/atomic_write.h"
#include "io/json_file.h"
#include "io/module_weights.h"
#include "models/autoencoder_kl_loading.h"
#include "models/clip_model_loading.h"
#include "models/clip_text_loading.h"
#include "models/unet_loading.h"
#include "pipeline/pipeline.h"
#include "pipeline/scheduler_config.h"
#include "pretraining/clip_pretraining.h"
#include "pretraining/diffusion_pretraining.h"
#include "pretraining/judged_samples.h"
#include "pretraining/rollout_pairs.h"
#include "pretraining/vae_pretraining.h"
#include "pretraining/world_configs.h"
#include "pretraining/world_tokenizer.h"
#include "runtime/errors.h"
#include "text/clip_tokenizer.h"
#include "world/prompt_grammar.h"

namespace spo::pretraining {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

int64_t scaled(int64_t n, double scale) { return std::max<int64_t>(1, static_cast<int64_t>(std::llround(n * scale))); }

// n prompts spread evenly over a split (splits come in a fixed order).
std::vector<std::string> first_prompts(world::Track track, world::Split split, int64_t n) {
  auto all = world::track_prompts(track, split);
  if (static_cast<int64_t>(all.size()) > n) {
    // Spread over the split instead of its first (one-object) scenes.
    std::vector<std::string> picked;
    const double stride = static_cast<double>(all.size()) / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) picked.push_back(all[static_cast<size_t>(i * stride)]);
    return picked;
  }
  return all;
}

class Stages {
 public:
  explicit Stages(std::string out) : dir_(std::move(out) + "/stages") { fs::create_directories(dir_); }
  bool done(const std::string& name) const { return fs::exists(path(name)); }
  Json figures(const std::string& name) const { return io::read_json(path(name)); }
  void finish(const std::string& name, const Json& figures) const {
    io::write_file_atomic(path(name), figures.dump(2) + "\n");
  }

 private:
  std::string path(const std::string& name) const { return dir_ + "/" + name + ".json"; }
  std::string dir_;
};

Json stage_json(const StageResult& r) {
  const size_t n = r.losses.size(), tail = std::min<size_t>(n, 50);
  double last = 0;
  for (size_t i = n - tail; i < n; ++i) last += r.losses[i];
  return Json{{"steps", n}, {"seconds", r.seconds}, {"firstLoss", n ? r.losses.front() : 0.0},
              {"finalLoss", tail ? last / static_cast<double>(tail) : 0.0}};
}

Json judge_json(world::Track track, const std::vector<world::Verdict>& scores) {
  Json j;
  for (const auto& part : world::judge_parts(track)) j[part] = mean_judge(scores, part);
  return j;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `samples` passes of sampling over `prompts` (pass i with seed seed + i),
// each cached in `dir` under a name that says what it holds, so a rerun (or
// an interrupted stage) samples only the passes not yet on disk; cached
// samples are judged again on load.
std::vector<JudgedPass> cached_passes(pipeline::Pipeline& pipe, world::Track track,
                                      const std::vector<std::string>& prompts, const SamplingOptions& sampling,
                                      int64_t samples, const std::string& dir, const std::string& name,
                                      const JobContext& ctx) {
  fs::create_directories(dir);
  std::vector<JudgedPass> passes;
  for (int64_t i = 0; i < samples; ++i) {
    SamplingOptions pass_sampling = sampling;
    pass_sampling.seed = sampling.seed + static_cast<uint64_t>(i);
    const std::string path = dir + "/" + name + "-p" + std::to_string(prompts.size()) + "-steps" +
                             std::to_string(sampling.steps) + "-seed" + std::to_string(pass_sampling.seed) +
                             ".safetensors";
    if (fs::exists(path)) {
      auto pass = load_pass(path);
      if (pass.prompts == prompts) {
        judge_again(pass, track);  // a judge changed since they were drawn must not label with stale totals
        passes.push_back(std::move(pass));
        continue;
      }
    }
    passes.push_back(sample_pass(pipe, track, prompts, pass_sampling, ctx));
    save_pass(path, passes.back());
  }
  return passes;
}

Json validation_json(const evaluator::ValidationReport& r) {
  Json acc;
  for (size_t i = 0; i < r.timesteps.size(); ++i) acc[std::to_string(r.timesteps[i])] = r.accuracy[i];
  return Json{{"pairs", r.pairs}, {"accuracy", acc}};
}

}  // namespace

Json pretrain_world(const WorldPretrainingOptions& o, const JobContext& ctx) {
  require(!o.out_dir.empty(), "pretrain world: an output directory is needed");
  require(std::isfinite(o.scale) && o.scale > 0 && o.scale <= 100, "pretrain world: scale must be in (0, 100]");
  require(o.prediction == "epsilon" || o.prediction == "v_prediction",
          "pretrain world: prediction must be epsilon or v_prediction, got '" + o.prediction + "'");
  const world::Track track = world::track_from_name(o.world);
  const std::string base = o.out_dir + "/base";
  const std::string work = o.out_dir + "/work";
  fs::create_directories(work);
  Stages stages(o.out_dir);
  const auto cpu = at::TensorOptions().dtype(at::kFloat);
  const auto train_prompts = world::track_prompts(track, world::Split::Train);
  // The world's own defaults where an option is left at 0 (or < 0).
  const bool scenes = track == world::Track::Scenes;
  const int64_t pair_prompts = o.pair_prompts > 0 ? o.pair_prompts : 1500;
  const int64_t pair_validation_prompts = o.validation_prompts > 0 ? o.validation_prompts : (scenes ? 100 : 200);
  const int64_t samples_per_prompt = o.samples_per_prompt > 0 ? o.samples_per_prompt : (scenes ? 6 : 2);
  const double caption_share = o.caption_share >= 0 ? o.caption_share : (scenes ? 0.5 : 0.0);
  require(samples_per_prompt >= 2, "pretrain world: samples per prompt must be at least 2");
  require(caption_share <= 1, "pretrain world: the caption share must be in [0, 1]");
  const auto validation_prompts = world::track_prompts(track, world::Split::Validation);

  // The options every from-scratch stage shares: AdamW 1e-3, warm-up of a tenth of
  // the steps up to `max_warmup`, and its own seed stream (index) per stage.
  auto stage_options = [&](int64_t steps, int64_t batch, int64_t max_warmup, uint64_t index) {
    StageOptions so;
    so.steps = scaled(steps, o.scale);
    so.batch_size = batch;
    so.learning_rate = 1e-3;
    so.warmup_steps = std::min<int64_t>(max_warmup, so.steps / 10);
    so.seed = o.seed * 11 + index;
    so.track = track;
    return so;
  };

  if (!stages.done("init")) {
    write_initial_world_pipeline(base, o.seed, o.prediction, track);
    stages.finish("init", Json{{"seed", o.seed}, {"prediction", o.prediction}, {"world", o.world}});
  }
  // A folder keeps the world it was made for (folders from before the option are relations).
  const auto made_for = stages.figures("init").value("world", "relations");
  require(made_for == o.world, "pretrain world: " + o.out_dir + " was made for the " + made_for + " world, not " +
                                   o.world + " (use another output folder, or the same world)");
  // A folder keeps the parametrisation it was made with: continuing it under another would mix them.
  const auto made_with = io::read_json(base + "/scheduler/scheduler_config.json").value("prediction_type", "epsilon");
  require(made_with == o.prediction, "pretrain world: " + o.out_dir + " was made with prediction " + made_with +
                                         ", not " + o.prediction + " (use another output folder, or the same prediction)");

  if (!stages.done("vae")) {
    auto vae = models::load_autoencoder_kl(base + "/vae", cpu);
    const int64_t vae_steps = o.vae_steps > 0 ? o.vae_steps : (o.world == "scenes" ? 1000 : 300);
    auto so = stage_options(vae_steps, o.vae_batch, 100, 1);
    auto r = train_world_vae(vae, train_prompts, so, ctx);
    auto config = io::read_json(base + "/vae/config.json");
    config["scaling_factor"] = r.scaling_factor;
    save_module(*vae, base + "/vae/diffusion_pytorch_model.safetensors");
    io::write_file_atomic(base + "/vae/config.json", config.dump(2) + "\n");
    auto j = stage_json(r.stage);
    j["latentStd"] = r.latent_std;
    j["scalingFactor"] = r.scaling_factor;
    j["reconstructionMse"] = r.reconstruction_mse;
    stages.finish("vae", j);
  }

  if (!stages.done("diffusion")) {
    auto vae = models::load_autoencoder_kl(base + "/vae", cpu);
    auto text = models::load_clip_text_model(base + "/text_encoder", cpu);
    auto unet = models::load_unet(base + "/unet", cpu);
    auto tokenizer = text::ClipTokenizer::from_directory(base + "/tokenizer");
    auto so = stage_options(o.diffusion_steps, o.diffusion_batch, 200, 2);
    auto r = train_world_diffusion(text, tokenizer, unet, vae, pipeline::read_scheduler_config(base + "/scheduler"),
                                   train_prompts, so, ctx);
    save_module(*text, base + "/text_encoder/model.safetensors");
    save_module(*unet, base + "/unet/diffusion_pytorch_model.safetensors");
    stages.finish("diffusion", stage_json(r));
  }

  auto pipe = pipeline::Pipeline::load(base);
  SamplingOptions sampling;
  sampling.steps = o.sampling_steps > 0 ? o.sampling_steps : (scenes ? 20 : 10);
  sampling.guidance_scale = o.guidance_scale;
  sampling.seed = o.seed * 11 + 3;

  if (!stages.done("base-samples")) {
    auto judged =
        sample_and_judge(*pipe, track, first_prompts(track, world::Split::Validation, scaled(200, o.scale)), sampling, ctx);
    stages.finish("base-samples", Json{{"prompts", judged.prompts.size()}, {"judge", judge_json(track, judged.scores)}});
  }

  const bool evaluators_done = stages.done("evaluator-plain") && stages.done("evaluator-step-aware") &&
                               (o.rollout_prompts > 0 || stages.done("evaluator-step-agnostic"));
  std::vector<evaluator::PreferencePair> train_pairs, validation_pairs;
  std::vector<JudgedPass> train_passes, validation_passes;  // the pairs' images live here
  if (!evaluators_done) {
    // Relations: two samples a prompt, ties kept (the shipped models' pairs,
    // as before). Scenes: every decided pair of n samples of a prompt.
    const auto started = std::chrono::steady_clock::now();
    const bool keep_ties = !scenes;
    const auto train_pair_prompts = first_prompts(track, world::Split::Train, scaled(pair_prompts, o.scale));
    train_passes = cached_passes(*pipe, track, train_pair_prompts, sampling, samples_per_prompt, work + "/pairs", "train", ctx);
    PairCounts train_counts, validation_counts;
    train_pairs = within_prompt_pairs(train_passes, o.tie_margin, keep_ties, &train_counts);
    SamplingOptions val_sampling = sampling;
    val_sampling.seed += 100;
    const auto validation_pair_prompts =
        first_prompts(track, world::Split::Validation, scaled(pair_validation_prompts, o.scale));
    validation_passes = cached_passes(*pipe, track, validation_pair_prompts, val_sampling, samples_per_prompt,
                                      work + "/pairs", "validation", ctx);
    validation_pairs = within_prompt_pairs(validation_passes, o.tie_margin, keep_ties, &validation_counts);
    // A resumed run reloads the pairs from work/pairs; the record keeps the first run's figures and time.
    if (!stages.done("pairs"))
      stages.finish("pairs", Json{{"train", train_pairs.size()}, {"validation", validation_pairs.size()},
                                  {"trainTies", train_counts.ties}, {"validationTies", validation_counts.ties},
                                  {"tiesKept", keep_ties}, {"tieMargin", o.tie_margin},
                                  {"trainPrompts", train_pair_prompts.size()},
                                  {"validationPrompts", validation_pair_prompts.size()},
                                  {"samplesPerPrompt", samples_per_prompt}, {"samplingSteps", sampling.steps},
                                  {"seconds", seconds_since(started)}});
  }

  if (!stages.done("clip")) {
    // The initial CLIP is made here (seeded, so the same weights whenever it
    // is made): a folder whose base came from elsewhere still gets one in the
    // vocabulary this code gives the track's evaluator.
    write_initial_world_evaluator(work + "/clip-init", o.seed, track);
    auto clip = models::load_clip_model(work + "/clip-init", cpu);
    auto tokenizer = text::ClipTokenizer::from_directory(work + "/clip-init");
    auto so = stage_options(o.clip_steps, o.clip_batch, 100, 4);
    so.weight_decay = 0.1;
    auto r = train_world_clip(clip, tokenizer, train_prompts, validation_prompts, so, ctx, caption_share);
    fs::create_directories(work + "/clip");
    save_module(*clip, work + "/clip/model.safetensors");
    io::write_file_atomic(work + "/clip/config.json", io::read_json(work + "/clip-init/config.json").dump(2) + "\n");
    write_world_tokenizer(work + "/clip", track, evaluator_caption_words(track));
    auto j = stage_json(r.stage);
    j["retrievalAccuracy@64"] = r.retrieval_accuracy;
    j["captionShare"] = caption_share;
    stages.finish("clip", j);
  }

  auto train_evaluator = [&](const std::string& name, const std::string& from, models::TimeConditioning mode,
                             bool clean, int64_t steps, double lr,
                             const std::vector<evaluator::PreferencePair>& train_pairs,
                             const std::vector<evaluator::PreferencePair>& validation_pairs) {
    if (stages.done(name)) return;
    const auto started = std::chrono::steady_clock::now();
    evaluator::PreferenceModelOptions mo;
    mo.time_conditioning = mode;
    mo.init_seed = o.seed * 11 + 5;
    auto model = evaluator::PreferenceModel::load(from, mo);
    evaluator::PreferenceTrainingOptions to;
    to.steps = scaled(steps, o.scale);
    to.batch_size = o.evaluator_batch;
    to.learning_rate = lr;
    to.weight_decay = 0.1;
    to.warmup_steps = std::min<int64_t>(100, to.steps / 10);
    to.guidance_scale = o.guidance_scale;
    to.seed = o.seed * 11 + 6;
    to.clean = clean;
    if (clean) to.validation_timesteps = {0};
    require(!train_pairs.empty(), "pretrain world: " + name + " has no training pairs (every pair tied?)");
    // Scenes pairs drop ties, so a tiny run's validation set can be empty: then there is nothing to measure.
    const Json before = validation_pairs.empty()
                            ? Json(nullptr)
                            : validation_json(evaluator::validate_preference_model(
                                  *model, *pipe, validation_pairs, to.validation_timesteps, to.guidance_scale,
                                  to.seed, 0, ctx, clean));
    auto r = evaluator::train_preference_model(*model, *pipe, train_pairs, validation_pairs, to, ctx);
    model->save(o.out_dir + "/" + name);
    double tail = 0;
    const size_t n = r.losses.size(), k = std::min<size_t>(n, 50);
    for (size_t i = n - k; i < n; ++i) tail += r.losses[i];
    Json j{{"steps", to.steps}, {"clean", clean}, {"before", before},
           {"finalLoss", k ? tail / static_cast<double>(k) : 0.0}, {"learningRate", lr},
           {"trainPairs", train_pairs.size()}, {"from", fs::path(from).filename().string()}};
    if (!r.validations.empty()) j["after"] = validation_json(r.validations.back());
    if (clean && !validation_pairs.empty() && validation_pairs.front().timestep != validation_pairs.back().timestep) {
      // Pairs at their own timesteps: accuracy per band of t, before and after.
      auto original = evaluator::PreferenceModel::load(from, mo);
      for (auto [lo, hi] : {std::pair{0, 1}, std::pair{1, 300}, std::pair{300, 600}, std::pair{600, 1000}}) {
        std::vector<evaluator::PreferencePair> band;
        for (const auto& p : validation_pairs)
          if (p.timestep >= lo && p.timestep < hi) band.push_back(p);
        if (band.empty()) continue;
        const std::string key = "t" + std::to_string(lo) + "-" + std::to_string(hi - 1);
        j["bands"][key]["before"] = validation_json(
            evaluator::validate_preference_model(*original, *pipe, band, {0}, to.guidance_scale, to.seed, 0, ctx, true));
        j["bands"][key]["after"] = validation_json(
            evaluator::validate_preference_model(*model, *pipe, band, {0}, to.guidance_scale, to.seed, 0, ctx, true));
      }
    }
    j["seconds"] = seconds_since(started);
    stages.finish(name, j);
  };
  train_evaluator("evaluator-plain", work + "/clip", models::TimeConditioning::Plain, true, o.plain_steps,
                  o.plain_learning_rate, train_pairs, validation_pairs);
  train_evaluator("evaluator-step-aware", o.out_dir + "/evaluator-plain", models::TimeConditioning::StepAware, false,
                  o.noisy_steps, o.noisy_learning_rate, train_pairs, validation_pairs);
  // With rollout pairs, Table 4's step-agnostic model is evaluator-rollout-agnostic
  // (below), the like-for-like twin of evaluator-rollout; this one would go unused.
  if (o.rollout_prompts == 0)
    train_evaluator("evaluator-step-agnostic", o.out_dir + "/evaluator-plain", models::TimeConditioning::StepAgnostic,
                    false, o.noisy_steps, 1e-4, train_pairs, validation_pairs);

  if (o.rollout_prompts > 0) {
    const std::string train_file = work + "/rollout-pairs-train.safetensors";
    const std::string validation_file = work + "/rollout-pairs-validation.safetensors";
    if (!stages.done("rollout-pairs")) {
      const auto started = std::chrono::steady_clock::now();
      RolloutPairOptions ro;
      ro.tie_margin = o.tie_margin;
      ro.seed = o.seed * 11 + 7;
      ro.track = track;
      RolloutPairStats train_stats, validation_stats;
      auto train_set = rollout_pairs(*pipe, first_prompts(track, world::Split::Train, scaled(o.rollout_prompts, o.scale)), ro,
                                     &train_stats, ctx);
      ro.seed += 100;
      auto validation_set = rollout_pairs(
          *pipe, first_prompts(track, world::Split::Validation, scaled(o.rollout_validation_prompts, o.scale)), ro,
          &validation_stats, ctx);
      Json readable;
      for (const auto& band : judge_reads_x0(validation_set, track))
        readable["t" + std::to_string(band.lo) + "-" + std::to_string(band.hi - 1)] =
            Json{{"pairs", band.pairs}, {"accuracy", band.pairs ? Json(band.accuracy) : Json(nullptr)}};
      save_pair_set(train_file, train_set);
      save_pair_set(validation_file, validation_set);
      stages.finish("rollout-pairs", Json{{"train", train_set.size()}, {"trainTies", train_stats.ties},
                                          {"validation", validation_set.size()},
                                          {"validationTies", validation_stats.ties}, {"groups", train_stats.groups},
                                          {"tieMargin", o.tie_margin}, {"k", ro.k}, {"steps", ro.steps},
                                          {"judgeReadsX0", readable}, {"seconds", seconds_since(started)}});
    }
    if (!stages.done("evaluator-rollout") || !stages.done("evaluator-rollout-agnostic")) {
      // Ties are most rollout pairs (84% at margin 0.02). Trained with them the
      // loss settled at 0.11, about the decided share x ln 2: the model scored
      // every pair as a tie. Only decided pairs carry a ranking to learn.
      std::vector<evaluator::PreferencePair> decided;
      for (auto& p : load_pair_set(train_file))
        if (p.label_0 != 0.5) decided.push_back(std::move(p));
      const auto validation_set = load_pair_set(validation_file);
      train_evaluator("evaluator-rollout", o.out_dir + "/evaluator-step-aware", models::TimeConditioning::StepAware,
                      true, o.rollout_steps, o.rollout_learning_rate, decided, validation_set);
      // Table 4's ablation, like for like: the same start (t then fed as 0), pairs,
      // steps and rate; only whether the model sees t differs.
      train_evaluator("evaluator-rollout-agnostic", o.out_dir + "/evaluator-step-aware",
                      models::TimeConditioning::StepAgnostic, true, o.rollout_steps, o.rollout_learning_rate, decided,
                      validation_set);
    }
  }

  Json report{{"seed", o.seed}, {"scale", o.scale}};
  for (const char* name : {"vae", "diffusion", "base-samples", "pairs", "clip", "evaluator-plain",
                           "evaluator-step-aware", "evaluator-step-agnostic", "rollout-pairs", "evaluator-rollout",
                           "evaluator-rollout-agnostic"})
    if (stages.done(name)) report[name] = stages.figures(name);
  io::write_file_atomic(o.out_dir + "/report.json", report.dump(2) + "\n");
  return report;
}

}  // namespace spo::pretraining

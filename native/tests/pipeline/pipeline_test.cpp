// The text-to-image pipeline against diffusers' own StableDiffusionPipeline /
// StableDiffusionXLPipeline on tiny random directories written by
// save_pretrained (test/python/make_pipeline_fixtures.py): final latents and
// decoded images for fixed initial latents (DDIM, eta 0, guidance 5); then
// guidance, seeding, cancellation, the SPO candidates (with chains of several transitions), the
// max_batch memory budget and refusals.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "io/json_file.h"
#include "io/safetensors.h"
#include "pipeline/pipeline.h"
#include "pipeline/scheduler_config.h"
#include "runtime/errors.h"

using namespace spo;
using namespace spo::pipeline;
namespace fs = std::filesystem;

namespace {

std::string fixtures() { return std::string(SPO_FIXTURE_ROOT) + "/pipeline"; }

std::shared_ptr<Pipeline> loaded(const std::string& name) {
  static std::map<std::string, std::shared_ptr<Pipeline>> cache;  // loading once keeps the suite fast
  auto& p = cache[name];
  if (!p) p = Pipeline::load(fixtures() + "/" + name);
  return p;
}

void expect_close(const at::Tensor& actual, const at::Tensor& expected, const std::string& what, double tol = 1e-4) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double err = (actual.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>();
  EXPECT_LT(err, tol) << what << ": max abs error " << err;
}

// A scratch copy of a fixture directory, removed afterwards.
struct ScratchCopy {
  explicit ScratchCopy(const std::string& name)
      : path(fs::temp_directory_path() / ("spo-pipe-" + std::to_string(::getpid()) + "-" + name)) {
    fs::remove_all(path);
    fs::copy(fixtures() + "/" + name, path, fs::copy_options::recursive);
  }
  ~ScratchCopy() { fs::remove_all(path); }
  void write(const std::string& rel, const std::string& text) const { std::ofstream(path / rel) << text; }
  void edit_json(const std::string& rel, const std::function<void(io::Json&)>& change) const {
    auto j = io::read_json((path / rel).string());
    change(j);
    write(rel, j.dump());
  }
  fs::path path;
};

void expect_refusal(const std::function<void()>& f, ErrorCode code, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(PipelineReference, MatchesDiffusersPipelines) {
  const auto cases = io::read_json(fixtures() + "/cases.json");
  const auto refs = io::SafeTensorsFile::open(fixtures() + "/references.safetensors");
  for (const auto& [name, c] : cases.items()) {
    SCOPED_TRACE(name);
    auto pipe = loaded(c["pipeline"].get<std::string>());
    EXPECT_EQ(pipe->kind(), c["pipeline"] == "sdxl" ? PipelineKind::StableDiffusionXL : PipelineKind::StableDiffusion);
    GenerateRequest r;
    r.prompts = c["prompts"].get<std::vector<std::string>>();
    if (!c["negative"].is_null()) r.negative_prompt = c["negative"].get<std::string>();
    r.steps = c["steps"].get<int64_t>();
    r.guidance_scale = c["guidance"].get<double>();
    r.eta = 0.0;
    r.height = c["height"].get<int64_t>();
    r.width = c["width"].get<int64_t>();
    r.initial_latents = refs->tensor(name + ".initial").clone();
    const auto out = pipe->generate(r);
    expect_close(out.latents, refs->tensor(name + ".latents"), "latents");
    expect_close(((out.images + 1) / 2).clamp(0, 1), refs->tensor(name + ".image"), "image");
    // 8-bit pixels: diffusers' round(x * 255) of the same image, interleaved RGB.
    const auto expected = (refs->tensor(name + ".image") * 255).round().permute({0, 2, 3, 1});
    EXPECT_LE((out.pixels.to(at::kFloat) - expected).abs().max().item<double>(), 1.0);
    EXPECT_EQ(out.pixels.scalar_type(), at::kByte);
  }
}

TEST(PipelineGuidance, OneBatchEqualsTwoSeparateUNetCalls) {
  for (const std::string name : {"sd15", "sdxl"}) {
    auto pipe = loaded(name);
    const auto c = pipe->encode_prompts({"a cat", "a dog"}, std::string("ugly"), 64, 48);
    const auto x = at::randn({2, 4, 8, 6});
    const auto t = at::tensor({int64_t{901}, int64_t{501}});
    const auto guided = pipe->guided_model_output(x, t, c, 5.0);
    const auto eps_c = pipe->unet()->forward(x, t, c.cond.hidden, {c.cond.pooled, c.time_ids});
    const auto eps_u = pipe->unet()->forward(x, t, c.uncond.hidden, {c.uncond.pooled, c.time_ids});
    expect_close(guided, eps_u + 5.0 * (eps_c - eps_u), name + " guidance", 1e-4);
    expect_close(pipe->guided_model_output(x, t, c, 1.0), eps_c, name + " without guidance", 1e-5);
  }
}

TEST(PipelineConditioning, SdxlTimeIdsAndZeroUnconditionalBranch) {
  auto pipe = loaded("sdxl");
  const auto zeros = pipe->encode_prompts({"a cat"}, std::nullopt, 64, 48);  // force_zeros_for_empty_prompt
  EXPECT_EQ(zeros.uncond.hidden.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(zeros.uncond.pooled.abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(at::equal(zeros.time_ids, at::tensor({64.f, 48.f, 0.f, 0.f, 64.f, 48.f}).view({1, 6})));
  EXPECT_EQ(zeros.cond.hidden.size(2), 64);  // 32 + 32 features of the two encoders
  const auto empty = pipe->encode_prompts({"a cat"}, std::string(""), 64, 48);
  EXPECT_GT(empty.uncond.hidden.abs().sum().item<double>(), 0.0);
  const auto sd = loaded("sd15")->encode_prompts({"a cat", "x"}, std::nullopt, 64, 48);
  EXPECT_FALSE(sd.time_ids.defined());
  EXPECT_TRUE(at::equal(sd.uncond.hidden[0], sd.uncond.hidden[1]));  // "" for every row
}

TEST(PipelineSampling, SeedDecidesTheImage) {
  auto pipe = loaded("sd15");
  GenerateRequest r;
  r.prompts = {"a cat"};
  r.steps = 2;
  r.height = 32;
  r.width = 32;
  r.seed = 7;
  const auto a = pipe->generate(r), b = pipe->generate(r);
  EXPECT_TRUE(at::equal(a.pixels, b.pixels));
  EXPECT_EQ(a.pixels.sizes(), (std::vector<int64_t>{1, 32, 32, 3}));
  r.seed = 8;
  EXPECT_FALSE(at::equal(a.latents, pipe->generate(r).latents));
  r.decode = false;
  EXPECT_FALSE(pipe->generate(r).images.defined());
}

TEST(PipelineSampling, CancellationStopsBetweenSteps) {
  auto pipe = loaded("sd15");
  GenerateRequest r;
  r.prompts = {"a cat"};
  r.steps = 5;
  r.height = r.width = 32;
  int steps_seen = 0;
  auto flag = std::make_shared<std::atomic<bool>>(false);
  JobContext ctx(flag, [&](const ProgressEvent& ev) {
    EXPECT_EQ(ev.stage, "denoise");
    EXPECT_EQ(ev.total, 5);
    if (++steps_seen == 2) flag->store(true);
  });
  EXPECT_THROW(pipe->generate(r, ctx), Cancelled);
  EXPECT_EQ(steps_seen, 2);
}

TEST(PipelineCandidates, ShareTheMeanAndScoreTheirOwnX0) {
  for (const std::string name : {"sd15", "sdxl"}) {
    SCOPED_TRACE(name);
    auto pipe = loaded(name);
    diffusion::DdimScheduler scheduler(pipe->scheduler_config());
    scheduler.set_timesteps(10);
    const int64_t t = scheduler.timesteps()[4];
    const std::vector<std::string> prompts{"a cat", "a red sofa"};
    const auto c = pipe->encode_prompts(prompts, std::nullopt, 32, 32);
    const auto x = at::randn({2, 4, 4, 4});
    const auto ts = at::full({2}, t, at::kLong);
    const auto eps = pipe->guided_model_output(x, ts, c, 5.0);

    CandidateRequest r;
    r.prompts = prompts;
    r.latents = x;
    r.model_output = eps;
    r.timestep = t;
    r.steps = 10;
    r.k = 3;
    r.decode = true;
    const auto out = pipe->candidates(r);
    EXPECT_EQ(out.prev_timestep, t - 100);
    ASSERT_EQ(out.candidates.sizes(), (std::vector<int64_t>{2, 3, 4, 4, 4}));
    EXPECT_EQ(out.log_probs.sizes(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(out.pixels.sizes(), (std::vector<int64_t>{2, 3, 32, 32, 3}));

    diffusion::StepRequest mean_only{x, eps, ts, 1.0};  // the mean depends on eta (through std)
    const auto mean = scheduler.step(mean_only).mean;
    for (int64_t p = 0; p < 2; ++p) {
      EXPECT_FALSE(at::allclose(out.candidates[p][0], out.candidates[p][1]));  // independent noise
      for (int64_t j = 0; j < 3; ++j) {
        diffusion::StepRequest score{x.narrow(0, p, 1), eps.narrow(0, p, 1), ts.narrow(0, p, 1), 1.0};
        score.prev_sample = out.candidates[p][j].unsqueeze(0);
        const auto s = scheduler.step(score);
        expect_close(s.mean[0], mean[p], "mean");
        expect_close(s.log_prob, out.log_probs[p][j].unsqueeze(0), "log-prob", 1e-5);
      }
    }
    // x0 of each candidate from the guided UNet at prev_t.
    const auto flat = out.candidates.reshape({6, 4, 4, 4});
    const auto prev = at::full({6}, out.prev_timestep, at::kLong);
    const auto eps_prev = pipe->guided_model_output(flat, prev, c.repeat_rows(3), 5.0);
    expect_close(out.model_output.reshape({6, 4, 4, 4}), eps_prev, "candidate model output");
    diffusion::StepRequest at_prev{flat, eps_prev, prev};
    expect_close(out.pred_original.reshape({6, 4, 4, 4}), scheduler.step(at_prev).pred_original, "x0");
    expect_close(out.images.reshape({6, 3, 32, 32}), pipe->decode(out.pred_original.reshape({6, 4, 4, 4})), "images");
  }
}

TEST(PipelineCandidates, LastStepCandidatesAreCleanLatents) {
  auto pipe = loaded("sd15");
  CandidateRequest r;
  r.prompts = {"a cat"};
  r.latents = at::randn({1, 4, 4, 4});
  r.model_output = at::randn({1, 4, 4, 4});
  r.steps = 10;
  r.timestep = 1;
  r.k = 2;
  const auto out = pipe->candidates(r);
  EXPECT_LT(out.prev_timestep, 0);
  EXPECT_TRUE(at::equal(out.pred_original, out.candidates));
  EXPECT_FALSE(out.model_output.defined());
  r.timestep = 7;  // not on the 10-step schedule
  expect_refusal([&] { pipe->candidates(r); }, ErrorCode::InvalidArgument, "not one of");
}

TEST(PipelineCandidates, OneTransitionIsTheSingleBranchStep) {
  auto pipe = loaded("sd15");
  CandidateRequest r;
  r.prompts = {"a cat", "a dog"};
  r.latents = at::randn({2, 4, 4, 4});
  r.model_output = at::randn({2, 4, 4, 4});
  r.steps = 10;
  r.timestep = 501;
  r.k = 3;
  r.seed = 9;
  r.predict_x0 = false;
  const auto out = pipe->candidates(r);
  // By hand: one step of the repeated rows with the seed's first draw.
  diffusion::DdimScheduler scheduler(pipe->scheduler_config());
  scheduler.set_timesteps(10);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  diffusion::StepRequest step{r.latents.repeat_interleave(3, 0), r.model_output.repeat_interleave(3, 0),
                              at::full({6}, 501, at::kLong), 1.0};
  step.noise = at::randn({6, 4, 4, 4}, gen, at::TensorOptions().dtype(at::kFloat));
  const auto drawn = scheduler.step(step);
  EXPECT_TRUE(at::equal(out.candidates, drawn.prev_sample.reshape({2, 3, 4, 4, 4})));
  EXPECT_TRUE(at::equal(out.log_probs, drawn.log_prob.reshape({2, 3})));
  EXPECT_TRUE(at::equal(out.chain, out.candidates.unsqueeze(2)));
  EXPECT_TRUE(at::equal(out.chain_log_probs, out.log_probs.unsqueeze(2)));
  EXPECT_EQ(out.chain_timesteps, (std::vector<int64_t>{501}));
  EXPECT_EQ(out.prev_timestep, 401);
}

TEST(PipelineCandidates, LongerChainsFollowEachCandidateWithGuidedSteps) {
  for (const std::string name : {"sd15", "sdxl"}) {
    SCOPED_TRACE(name);
    auto pipe = loaded(name);
    const std::vector<std::string> prompts{"a cat", "a red sofa"};
    CandidateRequest r;
    r.prompts = prompts;
    r.latents = at::randn({2, 4, 4, 4});
    r.model_output = at::randn({2, 4, 4, 4});
    r.steps = 10;
    r.timestep = 501;
    r.k = 3;
    r.transitions_per_chain = 2;
    r.seed = 3;
    const auto out = pipe->candidates(r);
    ASSERT_EQ(out.chain.sizes(), (std::vector<int64_t>{2, 3, 2, 4, 4, 4}));
    ASSERT_EQ(out.chain_log_probs.sizes(), (std::vector<int64_t>{2, 3, 2}));
    EXPECT_EQ(out.chain_timesteps, (std::vector<int64_t>{501, 401}));
    EXPECT_EQ(out.prev_timestep, 301);
    EXPECT_TRUE(at::equal(out.candidates, out.chain.select(2, 1)));
    expect_close(out.log_probs, out.chain_log_probs.sum(2), "chain log-prob", 1e-6);

    // Transition 2 by hand: the guided UNet at each first-step latent, scored by the scheduler.
    diffusion::DdimScheduler scheduler(pipe->scheduler_config());
    scheduler.set_timesteps(10);
    const auto c = pipe->encode_prompts(prompts, std::nullopt, 32, 32).repeat_rows(3);
    const auto x1 = out.chain.select(2, 0).reshape({6, 4, 4, 4});
    const auto t1 = at::full({6}, 401, at::kLong);
    const auto eps1 = pipe->guided_model_output(x1, t1, c, 5.0);
    diffusion::StepRequest second{x1, eps1, t1, 1.0};
    second.prev_sample = out.chain.select(2, 1).reshape({6, 4, 4, 4});
    expect_close(scheduler.step(second).log_prob.view({2, 3}), out.chain_log_probs.select(2, 1), "log-prob 2", 1e-5);
    // ... and with the seed's second draw, the same latent.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    at::randn({6, 4, 4, 4}, gen, at::TensorOptions().dtype(at::kFloat));
    second.prev_sample.reset();
    second.noise = at::randn({6, 4, 4, 4}, gen, at::TensorOptions().dtype(at::kFloat));
    expect_close(scheduler.step(second).prev_sample, out.chain.select(2, 1).reshape({6, 4, 4, 4}), "latent 2", 1e-5);
    // x0 and its model output at the chain's final timestep.
    const auto x2 = out.candidates.reshape({6, 4, 4, 4});
    const auto t2 = at::full({6}, 301, at::kLong);
    const auto eps2 = pipe->guided_model_output(x2, t2, c, 5.0);
    expect_close(out.model_output.reshape({6, 4, 4, 4}), eps2, "final model output");
    diffusion::StepRequest at_final{x2, eps2, t2};
    expect_close(out.pred_original.reshape({6, 4, 4, 4}), scheduler.step(at_final).pred_original, "x0");
  }
}

TEST(PipelineCandidates, ChainsStopAtTheScheduleEnd) {
  auto pipe = loaded("sd15");
  CandidateRequest r;
  r.prompts = {"a cat"};
  r.latents = at::randn({1, 4, 4, 4});
  r.model_output = at::randn({1, 4, 4, 4});
  r.steps = 10;
  r.timestep = 101;  // two steps left: 101 and 1
  r.k = 2;
  r.transitions_per_chain = 2;
  const auto out = pipe->candidates(r);  // ends in clean latents
  EXPECT_LT(out.prev_timestep, 0);
  EXPECT_TRUE(at::equal(out.pred_original, out.candidates));
  r.transitions_per_chain = 3;
  expect_refusal([&] { pipe->candidates(r); }, ErrorCode::InvalidArgument, "run past the schedule's last timestep");
  r.transitions_per_chain = 0;
  expect_refusal([&] { pipe->candidates(r); }, ErrorCode::InvalidArgument, "transitionsPerChain");
}

// Chunked UNet batches round differently (the CPU kernels block by batch
// size: about 1e-6 relative on one unguided call here), so "the same" is
// relative to the tensor's largest magnitude, with room for guidance w = 5
// (which multiplies that error by up to 2w - 1) and the steps that carry it.
static void expect_same(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  const double err = (actual - expected).abs().max().item<double>() / scale;
  EXPECT_LT(err, 1e-5) << what << ": max relative error " << err << " (scale " << scale << ")";
}

TEST(PipelineMemory, MaxBatchSplitsTheUNetBatchWithoutChangingResults) {
  for (const std::string name : {"sd15", "sdxl"}) {
    SCOPED_TRACE(name);
    auto pipe = loaded(name);
    const auto c = pipe->encode_prompts({"a cat", "a dog", "a red sofa"}, std::string("ugly"), 32, 32);
    const auto x = at::randn({3, 4, 4, 4});
    const auto t = at::tensor({int64_t{901}, int64_t{501}, int64_t{1}});
    for (const double w : {1.0, 5.0}) {
      const auto whole = pipe->guided_model_output(x, t, c, w);
      for (const int64_t rows : {1, 2, 4, 5, 6}) {
        expect_same(pipe->guided_model_output(x, t, c, w, rows), whole,
                    "one call, w " + std::to_string(w) + ", max_batch " + std::to_string(rows));
      }
    }

    GenerateRequest g;
    g.prompts = {"a cat", "a dog", "a red sofa"};
    g.steps = 2;
    g.height = g.width = 32;
    g.seed = 4;
    const auto whole = pipe->generate(g);
    for (const int64_t rows : {1, 4, 5}) {  // 6 rows of the CFG batch: uneven chunks too
      g.max_batch = rows;
      const auto split = pipe->generate(g);
      expect_same(split.latents, whole.latents, "generate latents, max_batch " + std::to_string(rows));
      expect_same(split.images, whole.images, "generate images");
    }
    g.max_batch = 2;
    g.guidance_scale = 1.0;  // no CFG doubling
    const auto cond_only = pipe->generate(g);
    g.max_batch = 0;
    expect_same(cond_only.latents, pipe->generate(g).latents, "without guidance");

    CandidateRequest r;
    r.prompts = {"a cat", "a dog"};
    r.latents = at::randn({2, 4, 4, 4});
    r.model_output = at::randn({2, 4, 4, 4});
    r.steps = 10;
    r.timestep = 501;
    r.k = 3;
    r.transitions_per_chain = 2;
    const auto all = pipe->candidates(r);
    r.max_batch = 5;
    const auto chunked = pipe->candidates(r);
    expect_same(chunked.chain, all.chain, "candidate chains");
    expect_same(chunked.model_output, all.model_output, "candidate model outputs");
    expect_same(chunked.pred_original, all.pred_original, "candidate x0");
    r.max_batch = -1;
    expect_refusal([&] { pipe->candidates(r); }, ErrorCode::InvalidArgument, "maximum UNet batch");
  }
}

TEST(PipelineRequests, BadRequestsAreRefused) {
  auto pipe = loaded("sd15");
  GenerateRequest r;
  r.prompts = {"a cat"};
  r.width = 36;
  r.height = 32;
  expect_refusal([&] { pipe->generate(r); }, ErrorCode::InvalidArgument, "multiples of 8");
  r.width = 32;
  r.steps = 0;
  expect_refusal([&] { pipe->generate(r); }, ErrorCode::InvalidArgument, "inference steps");
  r.steps = 2;
  r.initial_latents = at::zeros({1, 4, 3, 3});
  expect_refusal([&] { pipe->generate(r); }, ErrorCode::InvalidArgument, "initial latents");
  r.initial_latents.reset();
  r.prompts.clear();
  expect_refusal([&] { pipe->generate(r); }, ErrorCode::InvalidArgument, "prompts");
}

TEST(PipelineLoading, SchedulerConfigsMapOntoDdim) {
  const auto pndm = read_scheduler_config(fixtures() + "/sd15/scheduler");
  EXPECT_EQ(pndm.beta_schedule, diffusion::BetaSchedule::ScaledLinear);
  EXPECT_DOUBLE_EQ(pndm.beta_start, 0.00085);
  EXPECT_DOUBLE_EQ(pndm.beta_end, 0.012);
  EXPECT_EQ(pndm.steps_offset, 1);
  EXPECT_FALSE(pndm.clip_sample);
  EXPECT_FALSE(pndm.set_alpha_to_one);
  const auto euler = read_scheduler_config(fixtures() + "/sdxl/scheduler");
  EXPECT_EQ(euler.timestep_spacing, diffusion::TimestepSpacing::Leading);
  expect_refusal([] { ddim_config_from_diffusers(io::Json{{"trained_betas", {0.1, 0.2}}}, "cfg"); },
                       ErrorCode::Unsupported, "trained_betas");
  expect_refusal([] { ddim_config_from_diffusers(io::Json{{"timestep_spacing", "odd"}}, "cfg"); },
                       ErrorCode::InvalidArgument, "cfg: timestep_spacing");
}

TEST(PipelineLoading, BadDirectoriesAreRefusedClearly) {
  expect_refusal([] { Pipeline::load(fixtures() + "/nope"); }, ErrorCode::NotFound, "not found");
  {
    ScratchCopy d("sd15");
    fs::remove_all(d.path / "text_encoder");
    expect_refusal([&] { Pipeline::load(d.path); }, ErrorCode::NotFound, "'text_encoder' folder");
  }
  {
    ScratchCopy d("sd15");
    d.write("model_index.json", "{\"unet\": [");
    expect_refusal([&] { Pipeline::load(d.path); }, ErrorCode::InvalidArgument, "model_index.json");
  }
  {
    ScratchCopy d("sd15");
    d.edit_json("model_index.json", [](io::Json& j) { j.erase("vae"); });
    expect_refusal([&] { Pipeline::load(d.path); }, ErrorCode::NotFound, "no 'vae' component");
  }
  {
    ScratchCopy d("sd15");
    d.edit_json("unet/config.json", [](io::Json& j) { j["cross_attention_dim"] = 48; });
    expect_refusal([&] { Pipeline::load(d.path); }, ErrorCode::InvalidArgument, "cross-attends to 48");
  }
  {
    ScratchCopy d("sdxl");  // SDXL UNet without the second encoder
    d.edit_json("model_index.json", [](io::Json& j) { j.erase("text_encoder_2"); });
    expect_refusal([&] { Pipeline::load(d.path); }, ErrorCode::InvalidArgument, "text_time");
  }
  {
    ScratchCopy d("sd15");
    d.edit_json("scheduler/scheduler_config.json", [](io::Json& j) { j["beta_start"] = 0.5; j["beta_end"] = 0.1; });
    expect_refusal([&] { Pipeline::load(d.path); }, ErrorCode::InvalidArgument, "scheduler_config.json");
  }
}

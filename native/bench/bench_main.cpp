// The benchmark harness (native/core/bench) without Node: loads a pipeline
// and a preference model and prints run_bench's JSON report, for machines
// that have libtorch but no Node (a rented GPU). The same measurements as
// `spo bench`; not part of ctest. The report goes to --json, else to stdout.
//   build/tests/spo_bench_cli --model DIR --evaluator DIR [--device cpu|cuda] [--dtype fp32|fp16|bf16]
//       [--prompts N] [--settings JSON] [--reps N] [--warmup N] [--sections a,b,...] [--json OUT]
// --settings takes the TypeScript API's camelCase overrides (SpoSettings::from_json).
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "evaluator/preference_model.h"
#include "pipeline/pipeline.h"
#include "runtime/threads.h"

int main(int argc, char** argv) {
  std::map<std::string, std::string> a{{"device", "cpu"}, {"dtype", "fp32"}, {"prompts", "4"}, {"settings", "{}"},
                                       {"reps", "3"}, {"warmup", "1"}};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key.rfind("--", 0) != 0) {
      std::fprintf(stderr, "unexpected argument '%s'\n", argv[i]);
      return 2;
    }
    a[key.substr(2)] = argv[i + 1];
  }
  if (!a.count("model") || !a.count("evaluator")) {
    std::fprintf(stderr, "usage: spo_bench_cli --model DIR --evaluator DIR [--device cpu|cuda] [--dtype fp32|fp16|bf16] "
                         "[--prompts N] [--settings JSON] [--reps N] [--warmup N] [--sections a,b] [--json OUT]\n");
    return 2;
  }
  try {
    spo::configure_intra_op_threads();
    const at::Device device = a["device"] == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
    const std::string dt = a["dtype"];
    const at::ScalarType dtype = dt == "bf16" ? at::kBFloat16 : dt == "fp16" ? at::kHalf : at::kFloat;
    spo::pipeline::PipelineOptions po;
    po.device = device;
    po.dtype = dtype;
    auto pipe = spo::pipeline::Pipeline::load(a["model"], po);
    spo::evaluator::PreferenceModelOptions eo;
    eo.device = device;
    auto judge = spo::evaluator::PreferenceModel::load(a["evaluator"], eo);

    spo::bench::BenchOptions o;
    const char* pool[] = {"a red circle above a blue square", "two green triangles", "a small yellow square",
                          "a purple circle left of an orange triangle"};
    const int prompts = std::atoi(a["prompts"].c_str());
    for (int i = 0; i < prompts; ++i) o.prompts.push_back(pool[i % 4]);
    o.settings = spo::trainer::SpoSettings::from_json(nlohmann::json::parse(a["settings"]));
    o.reps = std::atoi(a["reps"].c_str());
    o.warmup = std::atoi(a["warmup"].c_str());
    if (a.count("sections")) {
      o.sections.clear();
      std::stringstream ss(a["sections"]);
      for (std::string part; std::getline(ss, part, ',');) o.sections.push_back(part);
    }
    auto report = spo::bench::run_bench(*pipe, *judge, o);
    report["models"] = {{"model", a["model"]}, {"evaluator", a["evaluator"]}};
    std::string command;
    for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
    report["command"] = command;
    const auto text = report.dump(2);
    if (a.count("json")) {
      std::ofstream(a["json"]) << text << "\n";
      std::cout << "spo_bench_cli: report -> " << a["json"] << std::endl;
    } else {
      std::cout << text << std::endl;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spo_bench_cli: %s\n", e.what());
    return 1;
  }
  return 0;
}

// Data-parallel SPO throughput (run by hand; not a test): R rounds of the real
// trainer on one rank or as one rank of a run (RANK / WORLD_SIZE / MASTER_ADDR
// / MASTER_PORT set), printing one JSON line per rank: seconds per round,
// sampling and update time, pairs, optimizer steps and bytes communicated.
//   spo_data_parallel_bench <pipeline dir> <evaluator dir> <rounds> [settings JSON]
// The per-rank trainBatchSize should be the 1-rank value / world size, so
// that both runs take the same global batch.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "evaluator/preference_model.h"
#include "spo/spo_trainer.h"

int main(int argc, char** argv) {
  using namespace spo;
  if (argc < 4) {
    std::cerr << "usage: spo_data_parallel_bench <pipeline dir> <evaluator dir> <rounds> [settings JSON]\n";
    return 2;
  }
  try {
    auto pipe = pipeline::Pipeline::load(argv[1]);
    evaluator::PreferenceModelOptions mo;
    mo.time_conditioning = models::TimeConditioning::StepAware;
    auto judge = evaluator::PreferenceModel::load(argv[2], mo);
    const auto settings = trainer::SpoSettings::from_json(argc > 4 ? nlohmann::json::parse(argv[4]) : nlohmann::json::object());
    std::vector<std::string> prompts;
    const char* shapes[] = {"circle", "square", "triangle", "star"};
    const char* colours[] = {"red", "blue", "green", "yellow"};
    for (auto* c : colours)
      for (auto* s : shapes) prompts.push_back(std::string("a ") + c + " " + s);
    trainer::TrainRunOptions o;
    o.max_rounds = std::atoll(argv[3]);
    o.distributed = distributed::RendezvousOptions{};
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = trainer::train_spo(*pipe, *judge, prompts, settings, o);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << nlohmann::json{{"rank", r.rank},
                                {"worldSize", r.world_size},
                                {"rounds", r.rounds_done},
                                {"seconds", seconds},
                                {"secondsPerRound", seconds / double(r.rounds_done)},
                                {"samplingSeconds", r.sampling_seconds},
                                {"updateSeconds", r.update_seconds},
                                {"pairsKept", r.pairs_kept},
                                {"optimizerSteps", r.optimizer_steps},
                                {"collectives", r.communication.collectives},
                                {"allReduceBytes", r.communication.all_reduce_bytes},
                                {"allGatherBytes", r.communication.all_gather_bytes}}
                     .dump()
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "spo_data_parallel_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

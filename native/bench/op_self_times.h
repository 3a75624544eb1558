// Self time per ATen op on the calling thread (its time minus the ops it
// called), recorded through a RecordFunction observer while an OpProfile is
// alive: where a forward's time goes, op by op, in the engine's own process.
// Shared by the hand-run benches that print such a split.
#pragma once
#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace spo::bench {

class OpProfile {
 public:
  OpProfile() {
    current() = this;
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(&OpProfile::enter, &OpProfile::exit).scopes({at::RecordScope::FUNCTION}));
  }
  ~OpProfile() {
    at::removeCallback(handle_);
    current() = nullptr;
  }
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  // The `limit` ops with the most self time, each as a share of all of it, with
  // calls and milliseconds divided by `runs` (the profiled forwards).
  void print(int runs, size_t limit = 20) const {
    std::vector<std::pair<double, std::string>> rows;
    double sum = 0;
    for (const auto& [name, v] : self_) sum += v.first;
    for (const auto& [name, v] : self_) {
      char line[160];
      std::snprintf(line, sizeof line, "%5.1f%%  %8.3f ms  %6.0f calls  %s", 100.0 * v.first / sum, 1e3 * v.first / runs,
                    static_cast<double>(v.second) / runs, name.c_str());
      rows.push_back({v.first, line});
    }
    std::sort(rows.rbegin(), rows.rend());
    std::printf("self time by op, per run (%.3f ms in ops):\n", 1e3 * sum / runs);
    for (size_t i = 0; i < rows.size() && i < limit; ++i) std::printf("  %s\n", rows[i].second.c_str());
    double calls = 0;
    for (const auto& [name, v] : self_) calls += v.second;
    std::printf("  ops per run: %.0f\n", calls / runs);
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Frame {
    std::string name;
    Clock::time_point start;
    double children = 0;
  };

  static OpProfile*& current() {
    thread_local OpProfile* p = nullptr;
    return p;
  }
  static std::unique_ptr<at::ObserverContext> enter(const at::RecordFunction& fn) {
    if (auto* p = current()) p->stack_.push_back({fn.name(), Clock::now(), 0});
    return nullptr;
  }
  static void exit(const at::RecordFunction&, at::ObserverContext*) {
    auto* p = current();
    if (!p || p->stack_.empty()) return;
    const Frame f = p->stack_.back();
    p->stack_.pop_back();
    const double total = std::chrono::duration<double>(Clock::now() - f.start).count();
    auto& slot = p->self_[f.name];
    slot.first += total - f.children;
    slot.second += 1;
    if (!p->stack_.empty()) p->stack_.back().children += total;
  }

  at::CallbackHandle handle_;
  std::vector<Frame> stack_;
  std::map<std::string, std::pair<double, int>> self_;  // name -> (seconds, calls)
};

}  // namespace spo::bench

// Shared helpers of the evaluator tests: fixture paths and the reference file
// written by test/python/make_evaluator_fixtures.py.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "io/json_file.h"
#include "io/safetensors.h"

namespace spo::evaluator::testing {

inline std::string fixtures() { return std::string(SPO_FIXTURE_ROOT) + "/evaluator"; }
inline std::string pipeline_fixtures() { return std::string(SPO_FIXTURE_ROOT) + "/pipeline"; }

inline at::Tensor reference(const std::string& name) {
  static std::shared_ptr<io::SafeTensorsFile> file = io::SafeTensorsFile::open(fixtures() + "/reference.safetensors");
  return file->tensor(name).clone();
}

inline const io::Json& reference_json() {
  static io::Json j = io::read_json(fixtures() + "/reference.json");
  return j;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().max().item<double>();
}

}  // namespace spo::evaluator::testing

#pragma once
// Published serving figures (docs/reference/calibration.md) and what the cost model predicts for
// them with its default parameters. Used by `tokenfleet calibrate` and tests/test_calibration.cpp.
#include <string>
#include <vector>

#include "cluster/catalog.hpp"

namespace tf {

struct CalibrationFigure {
  std::string source;   // where the published figure comes from
  std::string kind;     // "throughput" (output tokens/s of one replica) or "ttft" (seconds, batch 1)
  std::string model, gpu;
  Dtype dtype = Dtype::fp16;
  int tensor_parallel = 1;
  long long input_tokens = 0, output_tokens = 0;
  double published = 0.0;
  bool tested = true;   // checked within 25 % by the test suite
};

const std::vector<CalibrationFigure>& calibration_figures();

// The simulated value for a figure, with the default cost parameters: saturated throughput with 1024
// identical requests offered at once (max_batch 256, max_batched_tokens 8192), or one prefill iteration.
double simulate_figure(const CalibrationFigure& f);

}  // namespace tf

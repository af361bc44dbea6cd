#pragma once
// Published serving figures (cluster/calibration/figures.csv, built into the binary) and what the cost model
// predicts for them, each run at the settings of the engine that produced it; the fit of an engine profile to
// the training figures. Used by `tokenfleet calibrate` and tests/test_calibration.cpp.
#include <string>
#include <vector>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"

namespace tf {

struct CalibrationFigure {
  std::string id;       // unique, e.g. trt15-8b-h100-fp8-128
  std::string split;    // "train" or "validation"
  std::string engine;   // the engine profile it belongs to: trtllm, vllm, sglang
  std::string source;   // where the published figure comes from
  std::string kind;     // "throughput" (output tokens/s of one replica), "ttft" or "tpot" (seconds)
  std::string model, gpu;
  Dtype dtype = Dtype::fp16;
  int tensor_parallel = 1;
  long long input_tokens = 0, output_tokens = 0;
  double published = 0.0;
  std::string setting;  // how the engine ran it (figures.csv's header explains)
  std::string notes;
  int line = 0;         // in figures.csv
};

// The figures of cluster/calibration/figures.csv. Throws std::runtime_error naming line and field when the
// table is malformed (a test reads it).
const std::vector<CalibrationFigure>& calibration_figures();
std::vector<CalibrationFigure> parse_calibration_figures(const std::string& csv_text, const std::string& name);

// How a throughput figure is run: the engine's batch limits and KV share.
struct FigureSettings {
  std::string policy = "continuous";
  int max_batch = 256;
  long long max_tokens = 8192;
  int requests = 1000;
  double kv_fraction = 0.9;  // of the memory left after the weights
  int batch = 1;             // ttft / tpot: requests at once
};
FigureSettings figure_settings(const CalibrationFigure& f, const CostParams& params);

// The simulated value for a figure with the given parameters (the figure's engine profile when omitted).
double simulate_figure(const CalibrationFigure& f, const CostParams& params);
double simulate_figure(const CalibrationFigure& f);

struct FitResult {
  CostParams params;
  double training_rms_log_error = 0.0;
  int evaluations = 0;
};
// Fits the engine's profile to its training figures (Nelder-Mead on the log error, from its current profile),
// over the parameters the figures can tell apart.
FitResult fit_engine_profile(const std::string& engine, int max_evaluations = 600);

}  // namespace tf

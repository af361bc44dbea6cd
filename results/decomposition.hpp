#pragma once
// The top-down formula's decomposition of a simulated fleet, as an identity:
//
//   GPUs = f x D x k / (F x u x T)
//
// with f the FLOPs per token of a convention (the formula's own: 2 x P, P the model's parameter count as reported;
// or 2 x active parameters; or the FLOPs the cost model really counts), D the tokens (prompt + answer) offered over
// the measured span of T seconds, F one GPU's dense peak FLOP/s, and
//   k = the demand (tokens/s) of the window the fleet is sized for, over the span's mean demand, and
//   u = that window's f x tokens/s over the fleet's peak (GPUs x F).
// Then f x D x k / (F x u x T) is the simulated fleet exactly, whatever f: the simulator gives the formula the k and
// u that make it right, so a planner can put them beside the ones taken on faith (k = 4, u = 0.2 in the seed report).
// The window is the busiest clock hour of the span by tokens/s (what the fleet, fixed over the span, must carry; an
// hour clipped by the warm-up counts when the span holds half of it); a span of an hour or less is its own window,
// and then k = 1 says nothing about a day.
// Plain arithmetic (results/ depends on nothing of ours but io/).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/json.hpp"

namespace tf {

struct DecompositionHour {
  double start_s = 0.0, end_s = 0.0;
  double tokens = 0.0;  // prompt + answer tokens of the requests that arrived in it
};

struct DecompositionInputs {
  double params = 0.0;         // P: the model's parameters as the formula takes them (all, for an MoE)
  double active_params = 0.0;  // used per token (MoE: fewer)
  double peak_flops = 0.0;     // F: one GPU's dense peak at the dtype served
  int gpus = 0;                // the simulated fleet
  double span_start_s = 0.0, span_end_s = 0.0;  // the measured span (after the warm-up)
  double span_tokens = 0.0;                     // prompt + answer tokens offered in it
  std::vector<DecompositionHour> hours;         // hour by hour, clipped to the span
  double model_flops = 0.0;    // FLOPs the cost model counted over the span at the answer (0: not known)
  bool constant_rate = false;  // the arrival rate is constant by construction (a Poisson stream at one rate)
};

// One convention of FLOPs per token, and the u that makes the formula give the simulated fleet.
struct DecompositionConvention {
  std::string name;          // "2P", "2P_active", "cost_model"
  std::string label;         // what it is, in words
  double flops_per_token = 0.0;
  double utilization = 0.0;  // u
  double gpus = 0.0;         // f x D x k / (F x u x T), computed as written: the simulated fleet
};
TF_JSON_FIELDS(DecompositionConvention, name, label, flops_per_token, utilization, gpus)

struct Decomposition {
  std::string formula = "GPUs = f x D x k / (F x u x T)";
  double params = 0.0, active_params = 0.0, peak_flops = 0.0;
  int gpus = 0;
  double span_s = 0.0;            // T
  double tokens = 0.0;            // D
  double mean_tokens_per_s = 0.0; // D / T
  std::string window;             // "busiest hour" | "the whole span"
  double window_start_s = 0.0, window_end_s = 0.0;
  double window_tokens_per_s = 0.0;
  double peak_multiple = 0.0;     // k
  bool peak_multiple_meaningful = true;
  std::string peak_multiple_note;  // why k says little, when it does
  std::vector<DecompositionConvention> conventions;  // 2P first (the formula's), then 2P_active, then cost_model
  double average_utilization = 0.0;  // the cost model's FLOPs over the whole span / the fleet's peak (trough included)
};
TF_JSON_FIELDS(Decomposition, formula, params, active_params, peak_flops, gpus, span_s, tokens, mean_tokens_per_s,
               window, window_start_s, window_end_s, window_tokens_per_s, peak_multiple, peak_multiple_meaningful,
               peak_multiple_note, conventions, average_utilization)

// Throws std::invalid_argument for inputs that define nothing (no GPUs, no span, no tokens, no peak).
Decomposition decompose(const DecompositionInputs& in);

// The identity written out with its numbers, and k and u in words, for the terminal (lines start with `indent`).
std::string decomposition_text(const Decomposition& d, const std::string& indent);

}  // namespace tf

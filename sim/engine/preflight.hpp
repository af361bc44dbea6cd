#pragma once
// Before a run: what can be known without simulating (the longest request a workload can send, a trace's rows read
// as the run would take them), and what to change when a model or a request does not fit a replica: remedies that
// are each checked against the scenario at hand, never a change the loader would then refuse.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/scenario/scenario.hpp"

namespace tf {

// One change to a scenario: the overrides that make it (as `--set key=value` takes them) and what it gives.
struct Remedy {
  std::vector<std::pair<std::string, std::string>> sets;
  std::string effect;
  std::string flags() const;  // "--set key=value --set key2=value2"
};

// The longest request (prompt + answer, tokens) the workload can send to a replica: the length distributions'
// longest draws (fixed, uniform and empirical lengths are bounded below their max), a trace's length caps when both
// are given; never more than the model's context window, which workload.over_context enforces.
std::int64_t longest_request_bound(const Scenario& s);

// KV-cache tokens a replica must hold for `tokens` tokens of one request alone (a paged cache: whole blocks).
std::int64_t kv_tokens_needed(const Scenario& s, std::int64_t tokens);

// Configurations nearest to the scenario's in which the model fits and a replica's KV cache holds `need_tokens`:
// a larger tensor parallelism, a number format with smaller weights (FP8, where the GPU has it), a catalogue GPU
// with more memory, and their combinations, fewest changes first (then fewest GPUs per replica), at most `at_most`.
// Each is checked as the loader and check_servable would check it: tensor_parallel divides gpus_per_node and the
// model's heads, the GPU has the number format (and NVLink for tensor parallelism), the fleet stays within the GPUs
// one run simulates. Nothing when no such configuration exists.
std::vector<Remedy> fit_remedies(const Scenario& s, std::int64_t need_tokens, std::size_t at_most = 4);

// Whether the loader and check_servable take `gpu` at tensor parallelism `tp` (the scenario's dtype) for the
// scenario's model, node and fleet, and the KV-cache tokens a replica of it then holds (0 or less: the model does not
// fit). What size --search tries.
bool layout_accepted(const Scenario& s, const GpuSpec& gpu, int tp);
std::int64_t layout_kv_capacity(const Scenario& s, const GpuSpec& gpu, int tp);

// The memory of one GPU of the scenario's layout (the heaviest stage): weights, the reserve for activations, HBM, and
// what is left for the KV cache; what validate and check_servable say when a layout does not fit.
std::string memory_per_gpu_text(const Scenario& s);

// "--set a=b (effect); or --set c=d (effect)".
std::string remedies_text(const std::vector<Remedy>& remedies);

// What a trace scan found (scan_trace).
struct TraceScan {
  std::uint64_t bad_rows = 0;               // rows the run skips (skip_bad_rows) or stops at (without it)
  std::vector<std::string> bad_examples;    // the first few of them, "file:line: field: what"
  std::uint64_t requests = 0;               // requests the replay sends (rate_scale applied)
  double first_arrival_s = -1.0, last_arrival_s = -1.0;
  std::int64_t longest_tokens = 0;          // the longest request sent to a replica (after over_context)
  std::int64_t longest_prompt = 0, longest_output = 0;
  std::uint64_t over_context = 0;           // requests beyond the context window (cut, refused or dropped)
  std::string first_over_context;           // the refusal's text for the first of them (over_context = "refuse")
  std::uint64_t kv_short = 0;               // requests a replica's KV cache cannot hold
  std::string first_kv_short;               // kv_shortfall's text for the first of them
  // The error the run stops at, as the run gives it (empty when it runs): a bad row (without skip_bad_rows), a
  // request beyond the context window (over_context = "refuse"), or one longer than the KV cache; and its kind.
  std::string error;
  enum class Failure { none, bad_row, over_context, kv_cache } failure = Failure::none;
};

// Reads a trace workload's rows in one pass as the run would take them (window, speed, rate scale, over_context,
// duration_s; a looped trace's first pass), counting what the run would skip or stop at instead of stopping at the
// first. Nothing for other workloads (rows = 0). Throws TraceError for a file that cannot be read.
TraceScan scan_trace(const Scenario& s);

// A synthetic workload's lengths drawn as a run draws them (the same length streams of the seed, which arrivals do
// not touch: the first `n` requests' prompt and answer; for sessions, first questions only), with what
// workload.over_context does to them.
struct LengthSample {
  std::uint64_t drawn = 0;
  std::uint64_t over_context = 0;  // beyond the model's context window
  std::uint64_t kv_short = 0;      // longer than a replica's KV cache once over_context has cut them
  std::int64_t longest = 0;        // tokens, after over_context
};
LengthSample sample_lengths(const Scenario& s, std::uint64_t n);

// A trace replayed once that ends well before duration_s leaves an empty tail over which the run averages its
// rates, utilization and costs: the warning (naming both durations) when the last arrival (-1: none) leaves more
// than 1 % of duration_s and three mean gaps between arrivals empty; empty otherwise (and for other workloads, a
// looped trace, and duration_s taken from the trace).
std::string short_trace_warning(const Scenario& s, double first_arrival_s, double last_arrival_s,
                                std::uint64_t requests);

}  // namespace tf

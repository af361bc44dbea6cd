#pragma once
// `tokenfleet estimate --preset huafu-2024 --simulate`: the seed report's demand, year by year, simulated (README,
// "The seed report, simulated"). For each year:
//   - the demand as the simulator takes it: visits per day = visits per year / 365, each visit a session of the
//     report's Q&A per visit with think time, the conversation carried (each question's prompt holds the visit so
//     far); the answer the report's 523 characters x 2 tokens = 1,046 tokens, and the new question's tokens chosen
//     so that the mean prompt + answer over a visit is the report's tokens per Q&A (q = tokens_per_qa / 3 - answer
//     for 5 questions: the j-th question's prompt is q + j x (q + answer));
//   - a daily curve (parametric, its peak-to-mean stated), the fleet sized for the busiest hour (centred on the peak);
//   - the model gpt4-class (catalogue: SemiAnalysis's public shape) with its context window grown to hold the visit;
//   - the report's GPU mix, half and half by GPUs, as a mixed fleet ([[fleet.pool]]) behind a capacity-weighted
//     split; each GPU in FP8 where it has it, tensor parallel 8 and the fewest pipeline stages that hold the KV of
//     16 visits at their longest;
//   - paged KV with prefix caching and a prefix-aware router (a visit's later questions find the earlier ones' KV);
//   - latency targets (TTFT p99 2 s, TPOT p99 100 ms by default);
//   - a pod sized on its share of the demand, at two shares (the scale check), and scaled to the whole demand.
// Plain C++ over the engine (run_fleet).
#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include "sim/study/estimate.hpp"

namespace tf {

struct SimulatedYearInputs {
  EstimateInputs report;                // the report's year (its k, u, F, tokens, visits)
  std::string current_gpu, previous_gpu;  // the mix, half and half by GPUs (a catalogue name, or "next-gen")
  double answer_tokens = 1046.0;        // 523 characters x 2 tokens per character (the report's)
  double think_time_s = 30.0;           // mean, exponential: from an answer's end to the next question
  double peak_to_mean = 1.6;            // the daily curve's busiest instant over its mean (parametric, peak at 20:00)
  double ttft_p99_s = 2.0, tpot_p99_s = 0.1;
  double pod_units = 2.0;               // the smaller pod's share of demand: what this many units of the mix carry
                                        // saturated (the scale check doubles it)
  double warmup_s = 1800.0;             // simulated before the busiest hour
  std::uint64_t seed = 1;
  // The check of the report's arithmetic (`--formula`): the cost model reduced to 2 x P per token at the report's u
  // of the dense FP16 peak ([cost] formula_utilization), the daily curve's peak-to-mean chosen so that its busiest
  // hour is the report's k times the day's mean, the Q&A as the report counts them (each on its own, an open stream:
  // the question the Q&A's tokens but the answer's, no sessions, no conversation carried, no prefix cache), a
  // least-tokens router, and latency targets loose enough that only a fleet that cannot keep up misses them (TPOT
  // 1.5 x a full 2,048-token iteration, TTFT 2 x the longest prompt's prefill alone). The simulated fleet is then
  // the formula's, plus what queueing at the busiest hour costs. (With sessions, a slow fleet would push a visit's
  // later questions out of the busiest hour: a closed loop the formula does not have.)
  bool formula = false;
};

// The years 2024-2026 of the report, with their mixes: H100 + A100, B200 + H100, next gen + B200.
std::vector<SimulatedYearInputs> huafu_2024_simulated_preset();
// The same years for the check of the report's arithmetic: formula = true, and pods of 32 and more units (the answer
// is whole units, so a pod of 2 would round it up by as much as half).
std::vector<SimulatedYearInputs> huafu_2024_formula_preset();
// The parametric curve's (peak at 20:00) peak-to-mean whose busiest hour, centred on the peak, is `k` times the day's
// mean; throws std::invalid_argument when no smooth curve reaches it.
double peak_to_mean_for_busiest_hour(double k);
// The busiest hour (centred on the peak at 20:00) over the day's mean for a parametric curve of this peak-to-mean.
double busiest_hour_multiple(double peak_to_mean);
// "YEAR.field=value" for the fields of EstimateInputs (apply_estimate_overrides) and think_time_s, peak_to_mean,
// ttft_p99_s, tpot_p99_s, answer_tokens, pod_units; throws std::invalid_argument naming the override.
void apply_simulated_overrides(std::vector<SimulatedYearInputs>& years, const std::vector<std::string>& overrides);

struct SimulatedProbe {
  double share = 0.0;   // of the whole demand
  int units = 0;        // units of the mix
  int gpus = 0;
  double ttft_p99_s = 0.0, tpot_p99_s = 0.0;
  std::size_t requests = 0;  // measured (the busiest hour)
  bool pass = false;
  double wall_s = 0.0;
};

struct SimulatedPod {
  double share = 0.0;
  int units = 0, gpus = 0;                 // the smallest pod meeting the targets
  double gpus_per_share = 0.0;             // gpus / share: the whole fleet this pod stands for
  double ttft_p99_s = 0.0, tpot_p99_s = 0.0;
  double mfu = 0.0;                        // cost-model FLOPs over the pod's peak, in the busiest hour
  double mean_batch = 0.0;
  double prefix_hit_rate = 0.0;            // prompt tokens found in the prefix cache
  double mean_prompt_tokens = 0.0, mean_output_tokens = 0.0;
  double cost_model_flops_per_token = 0.0;  // FLOPs counted per token served
};

struct SimulatedYear {
  SimulatedYearInputs in;
  std::string scenario_toml;               // the pod's scenario at the answer (what `tokenfleet run` takes)
  double question_tokens = 0.0, max_context_tokens = 0.0;
  std::string current_layout, previous_layout;  // e.g. "8 x 4 h100-sxm fp8"
  int current_gpus_per_replica = 0, previous_gpus_per_replica = 0;
  int unit_current_replicas = 0, unit_previous_replicas = 0, unit_gpus = 0;
  double kv_requests_current = 0.0, kv_requests_previous = 0.0;  // visits at their longest one replica's KV holds
  double mix_flops = 0.0;                  // F: the mean dense FP16 FLOP/s of the fleet's GPUs (the report's F)
  double report_gpus = 0.0;                // the report's formula
  double mean_tokens_per_s = 0.0;          // the whole demand's D / T
  double peak_multiple = 0.0;              // k: the busiest hour's rate over the day's mean (from the curve)
  double simulated_gpus = 0.0;             // the larger pod's gpus / share
  double utilization = 0.0;                // u in the formula's convention (2 x P): the identity's
  double identity_gpus = 0.0;              // 2 x P x D x k / (F x u x T) with these k and u
  double active_ratio = 0.0;               // 2 x active / 2 x P
  double tpot_floor_current_s = 0.0, tpot_floor_previous_s = 0.0;  // a decode iteration of 32 at the mean context
  double tpot_target_s = 0.0;              // the TPOT p99 target used
  std::string tpot_note;                   // why it was raised (empty: the given one)
  double ttft_target_s = 0.0;              // the TTFT p99 target used
  std::string ttft_note;
  std::vector<SimulatedPod> pods;          // the scale check: the smaller share first
  std::vector<SimulatedProbe> probes;
  double peak_to_mean = 0.0;               // the curve's, as simulated (with formula: solved from the report's k)
  double wall_s = 0.0;
  std::string error;                       // why no fleet was found (empty when one was)
  std::string scale_note;                  // why the scale check stopped early (empty: it settled)
};

// Progress: one line per probe.
using SimulatedProgress = std::function<void(const std::string&)>;
SimulatedYear simulate_year(const SimulatedYearInputs& in, int jobs, const SimulatedProgress& progress,
                            const volatile std::sig_atomic_t* interrupt_flag = nullptr);

// The JSON, CSV and HTML page of the years.
std::string simulated_json(const std::vector<SimulatedYear>& years);
std::string simulated_csv(const std::vector<SimulatedYear>& years);
std::string simulated_html(const std::vector<SimulatedYear>& years);
std::string simulated_table(const std::vector<SimulatedYear>& years);

}  // namespace tf

// [cost]: the cost model's settings: an engine profile (tf::engine_profile), a measured GPU profile, and any of
// the profile's figures changed key by key.
#include <fmt/format.h>

#include <stdexcept>

#include "cluster/profile.hpp"
#include "sim/scenario/loader.hpp"

namespace tf::loader {

void read_cost(const Section& top, Scenario& s) {
  const Section c = top.table("cost");
  if (c.has("attention_flops"))
    c.fail("attention_flops",
           "was removed with the operator-level cost model: attention is always costed, as its own kernel "
           "(prefill and decode); tune it with attention_prefill_efficiency and attention_decode_efficiency");
  const std::string engine = c.string("engine").value_or("trtllm");
  const auto profile = engine_profile(engine);
  if (!profile)
    c.fail("engine", fmt::format("unknown engine '{}'; known engines: {}", engine, join(engine_names())));
  CostParams defaults = *profile;
  if (c.has("profile")) {
    const std::string path = c.loader().resolve_path(c.key("profile"), *c.string("profile"));
    try {
      defaults = load_profile(path, s.gpu, s.dtype, defaults).params;
    } catch (const std::runtime_error& e) {
      c.fail("profile", e.what());
    }
    s.cost_profile_path = path;
  }
  // Efficiencies from 0.001 (a tiny one would make iteration times overflow) to 1.
  const Section::Range unit{1e-3, 1.0, true, true};
  s.cost = defaults;
  s.cost.mfu = c.number_in("mfu", defaults.mfu, unit);
  s.cost.gemm_half_m = c.number_in("gemm_half_m", defaults.gemm_half_m, Section::Range{0.0, 1e9, true, true});
  s.cost.fp8_efficiency = c.number_in("fp8_efficiency", defaults.fp8_efficiency, unit);
  s.cost.mbu = c.number_in("mbu", defaults.mbu, unit);
  s.cost.attention_prefill_efficiency =
      c.number_in("attention_prefill_efficiency", defaults.attention_prefill_efficiency, unit);
  s.cost.attention_decode_efficiency =
      c.number_in("attention_decode_efficiency", defaults.attention_decode_efficiency, unit);
  s.cost.allreduce_bus_efficiency = c.number_in("allreduce_bus_efficiency", defaults.allreduce_bus_efficiency, unit);
  s.cost.overhead_s = c.number_in("overhead_ms", defaults.overhead_s * 1e3, Section::Range{0.0, 6e4, true, true}) * 1e-3;
  s.cost.per_request_overhead_s =
      c.number_in("per_request_overhead_us", defaults.per_request_overhead_s * 1e6, Section::Range{0.0, 1e6, true, true}) * 1e-6;
  s.cost.per_prefill_overhead_s =
      c.number_in("per_prefill_overhead_us", defaults.per_prefill_overhead_s * 1e6, Section::Range{0.0, 1e6, true, true}) *
      1e-6;
  s.cost.allreduce_latency_s =
      c.number_in("allreduce_latency_us", defaults.allreduce_latency_s * 1e6, Section::Range{0.0, 1e6, true, true}) * 1e-6;
  s.cost.kv_reserve_fraction =
      c.number_in("kv_reserve_fraction", defaults.kv_reserve_fraction, Section::Range{0.0, 1.0, true, false});
  // The cost model reduced to the top-down formula's 2 x P per token at u of the dense FP16 peak (CostParams).
  s.cost.formula_utilization = c.number_in("formula_utilization", 0.0, Section::Range{0.0, 1.0, false, true});
  for (const char* k : {"mfu", "gemm_half_m"})
    if (c.has(k) && s.cost.gemm_profile)
      c.fail(k, "cannot be set with a measured profile (the profile's GEMM curve takes its place); drop one");
}

}  // namespace tf::loader

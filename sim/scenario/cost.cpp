// [cost]: the cost model's settings (defaults: tf::CostParams).
#include "sim/scenario/loader.hpp"

namespace tf::loader {

void read_cost(const Section& top, Scenario& s) {
  const Section c = top.table("cost");
  const CostParams defaults;
  s.cost.mfu = c.number_in("mfu", defaults.mfu, Section::Range{0.0, 1.0, false, true});
  s.cost.mbu = c.number_in("mbu", defaults.mbu, Section::Range{0.0, 1.0, false, true});
  s.cost.overhead_s = c.number_in("overhead_ms", defaults.overhead_s * 1e3, Section::Range{0.0, 6e4, true, true}) * 1e-3;
  s.cost.allreduce_latency_s =
      c.number_in("allreduce_latency_us", defaults.allreduce_latency_s * 1e6, Section::Range{0.0, 1e6, true, true}) * 1e-6;
  s.cost.kv_reserve_fraction =
      c.number_in("kv_reserve_fraction", defaults.kv_reserve_fraction, Section::Range{0.0, 1.0, true, false});
  s.cost.attention_flops = c.boolean("attention_flops").value_or(defaults.attention_flops);
}

}  // namespace tf::loader

// [slo]: the latency targets.
#include "sim/scenario/loader.hpp"

namespace tf::loader {

void read_slo(const Section& top, Scenario& s) {
  const Section slo = top.table("slo");
  s.slo.ttft_p99_s = slo.number_in("ttft_p99_s", 0.0, Section::greater_than(0));
  s.slo.tpot_p99_s = slo.number_in("tpot_p99_s", 0.0, Section::greater_than(0));
}

}  // namespace tf::loader

// The autoscaler's controller and cold start (policies/autoscaler.hpp); the policies are autoscaler_*.cpp.
#include "policies/autoscaler.hpp"

#include <algorithm>

namespace tf {

double cold_start_s(const AutoscalerSpec& spec, double weight_bytes) {
  return spec.provision_s + weight_bytes / (spec.load_gbps * 1e9) + spec.startup_s;
}

int AutoscalerController::decide(double now_s, int current, int wanted) {
  const int clamped = std::clamp(wanted, min_, max_);
  recent_.emplace_back(now_s, clamped);
  // Keep the recommendations of the last delay_s_ (those at now - delay_s_ included).
  while (!recent_.empty() && recent_.front().first < now_s - delay_s_) recent_.pop_front();
  if (clamped >= current) return clamped;  // up (or steady) at once
  int highest = clamped;
  for (const auto& r : recent_) highest = std::max(highest, r.second);
  return std::min(current, highest);
}

}  // namespace tf

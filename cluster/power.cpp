#include "cluster/power.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace tf {

namespace {

double logistic(double log2_batch) {
  return 1.0 / (1.0 + std::exp(-PowerModel::kLogisticK * (log2_batch - PowerModel::kLogisticX0)));
}

}  // namespace

PowerModel::PowerModel(const GpuSpec& gpu) : idle_w_(gpu.idle_watts), tdp_w_(gpu.busy_watts) {
  const double range = tdp_w_ - idle_w_;
  if (!(idle_w_ >= 0.0) || !(range >= 0.0))
    throw std::invalid_argument(fmt::format("{}: power needs 0 <= idle_watts ({}) <= busy_watts ({})", gpu.name,
                                            idle_w_, tdp_w_));
  const double h100_range = kH100TdpWatts - kH100IdleWatts;
  f1_ = (kH100Batch1Watts - kH100IdleWatts) / h100_range;
  f128_ = (kH100Batch128Watts - kH100IdleWatts) / h100_range;
  const double p1 = gpu.decode_batch1_watts > 0.0 ? gpu.decode_batch1_watts : idle_w_ + range * f1_;
  const double p128 = gpu.decode_batch128_watts > 0.0 ? gpu.decode_batch128_watts : idle_w_ + range * f128_;
  if (!(idle_w_ <= p1 && p1 <= p128 && p128 <= tdp_w_))
    throw std::invalid_argument(fmt::format(
        "{}: the decode power curve needs idle_watts ({}) <= decode_batch1_watts ({}) <= decode_batch128_watts ({}) "
        "<= busy_watts ({})",
        gpu.name, idle_w_, p1, p128, tdp_w_));
  if (range > 0.0) {
    f1_ = (p1 - idle_w_) / range;
    f128_ = (p128 - idle_w_) / range;
  } else {
    f1_ = f128_ = 0.0;
  }
}

PowerModel PowerModel::flat(double idle_w, double busy_w) {
  PowerModel p;
  p.idle_w_ = idle_w;
  p.tdp_w_ = busy_w;
  p.flat_ = true;
  p.flat_w_ = busy_w;
  return p;
}

double PowerModel::fraction_at(double batch) const {
  // The logistic in log2(batch), scaled so that it passes through f(1) and f(128) exactly.
  static const double s1 = logistic(0.0), s128 = logistic(7.0);
  const double s = logistic(std::log2(std::max(1.0, batch)));
  return f1_ + (f128_ - f1_) * (s - s1) / (s128 - s1);
}

double PowerModel::watts(double fraction) const {
  return idle_w_ + (tdp_w_ - idle_w_) * std::clamp(fraction, 0.0, 1.0);
}

double PowerModel::decode_w(std::int64_t batch) const {
  if (flat_) return flat_w_;
  return watts(fraction_at(static_cast<double>(batch)));
}

double PowerModel::prefill_w(std::int64_t batch, std::int64_t tokens) const {
  if (flat_) return flat_w_;
  const double n = static_cast<double>(std::max<std::int64_t>(1, tokens));
  double f = 0.0;
  if (n <= 128.0) {
    f = fraction_at(n);
  } else {
    const double up = (std::log2(n) - 7.0) / (std::log2(kPrefillFullPowerTokens) - 7.0);
    f = f128_ + (1.0 - f128_) * std::min(1.0, up);
  }
  return watts(std::max(f, fraction_at(static_cast<double>(batch))));
}

double PowerModel::transfer_w() const {
  if (flat_) return flat_w_;
  return watts(f1_);
}

double PowerModel::step_w(PowerActivity kind, std::int64_t batch, std::int64_t tokens) const {
  switch (kind) {
    case PowerActivity::decode: return decode_w(batch);
    case PowerActivity::prefill: return prefill_w(batch, tokens);
    case PowerActivity::transfer: return transfer_w();
  }
  return tdp_w_;
}

}  // namespace tf

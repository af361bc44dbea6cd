#include "results/quantiles.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "results/summary.hpp"

namespace tf {

namespace {

const double kGamma = (1.0 + QuantileSketch::kRelativeError) / (1.0 - QuantileSketch::kRelativeError);
const double kLogGamma = std::log(kGamma);

// Bucket of a positive value: the i with g^(i-1) < v <= g^i.
std::int64_t bucket_of(double v) { return static_cast<std::int64_t>(std::ceil(std::log(v) / kLogGamma)); }

}  // namespace

void QuantileSketch::add(double v) {
  if (count_ == 0) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  ++count_;
  // Neumaier's compensated sum.
  const double t = sum_ + v;
  compensation_ += std::fabs(sum_) >= std::fabs(v) ? (sum_ - t) + v : (v - t) + sum_;
  sum_ = t;
  if (histogram_.empty() && zero_count_ == 0 && samples_.size() < exact_limit_) {
    if (!samples_.empty() && v < samples_.back()) sorted_ = false;
    samples_.push_back(v);
    return;
  }
  if (!samples_.empty()) to_histogram();
  add_to_histogram(v);
}

void QuantileSketch::add_to_histogram(double v) {
  if (!(v > 0.0)) {
    ++zero_count_;
    return;
  }
  const std::int64_t i = bucket_of(v);
  if (histogram_.empty()) {
    first_index_ = i;
    histogram_.assign(1, 0);
  } else if (i < first_index_) {
    histogram_.insert(histogram_.begin(), static_cast<std::size_t>(first_index_ - i), 0);
    first_index_ = i;
  } else if (i >= first_index_ + static_cast<std::int64_t>(histogram_.size())) {
    histogram_.resize(static_cast<std::size_t>(i - first_index_ + 1), 0);
  }
  ++histogram_[static_cast<std::size_t>(i - first_index_)];
}

void QuantileSketch::to_histogram() {
  std::vector<double> values;
  values.swap(samples_);
  sorted_ = true;
  for (const double v : values) add_to_histogram(v);
}

void QuantileSketch::compact() {
  if (!samples_.empty()) to_histogram();
}

void QuantileSketch::merge(const QuantileSketch& o) {
  if (o.count_ == 0) return;
  if (count_ == 0) {
    min_ = o.min_;
    max_ = o.max_;
  } else {
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }
  const double t = sum_ + o.sum_;
  compensation_ += (std::fabs(sum_) >= std::fabs(o.sum_) ? (sum_ - t) + o.sum_ : (o.sum_ - t) + sum_) +
                   o.compensation_;
  sum_ = t;
  count_ += o.count_;
  if (exact() || (histogram_.empty() && zero_count_ == 0)) {
    // This one still holds its values: keep them all when the other does too and they fit.
    if (o.histogram_.empty() && o.zero_count_ == 0 && samples_.size() + o.samples_.size() <= exact_limit_) {
      samples_.insert(samples_.end(), o.samples_.begin(), o.samples_.end());
      sorted_ = false;
      return;
    }
  }
  if (!samples_.empty()) to_histogram();
  for (const double v : o.samples_) add_to_histogram(v);
  zero_count_ += o.zero_count_;
  for (std::size_t k = 0; k < o.histogram_.size(); ++k)
    if (o.histogram_[k] > 0) {
      const std::int64_t i = o.first_index_ + static_cast<std::int64_t>(k);
      // Make room for bucket i by adding a value in it, then add the rest of its count.
      add_to_histogram(bucket_value(i));
      histogram_[static_cast<std::size_t>(i - first_index_)] += o.histogram_[k] - 1;
    }
}

double QuantileSketch::mean() const {
  if (count_ == 0) return 0.0;
  if (exact()) {
    sort();
    return std::accumulate(samples_.begin(), samples_.end(), 0.0) / static_cast<double>(count_);
  }
  return (sum_ + compensation_) / static_cast<double>(count_);
}

void QuantileSketch::sort() const {
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
}

double QuantileSketch::bucket_value(std::int64_t i) const {
  // The middle of (g^(i-1), g^i] in relative terms: 2 g^i / (g + 1), within a of every value of the bucket.
  return 2.0 * std::exp(static_cast<double>(i) * kLogGamma) / (kGamma + 1.0);
}

double QuantileSketch::value_at_rank(std::size_t k) const {
  if (exact()) {
    sort();
    return samples_[k];
  }
  if (k == 0) return min_;
  if (k + 1 >= count_) return max_;
  if (k < zero_count_) return std::clamp(0.0, min_, max_);
  std::uint64_t seen = zero_count_;
  for (std::size_t b = 0; b < histogram_.size(); ++b) {
    seen += histogram_[b];
    if (k < seen) return std::clamp(bucket_value(first_index_ + static_cast<std::int64_t>(b)), min_, max_);
  }
  return max_;
}

double QuantileSketch::percentile(double q, std::size_t extra_top, double top) const {
  // percentile_sorted's formula over the values followed by the extra ones.
  const std::size_t n = count_ + extra_top;
  if (n == 0) return 0.0;
  auto at = [&](std::size_t k) { return k < count_ ? value_at_rank(k) : top; };
  if (n == 1) return at(0);
  q = std::clamp(q, 0.0, 100.0);
  const double pos = q / 100.0 * static_cast<double>(n - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  if (lo >= n - 1) return at(n - 1);
  const double frac = pos - static_cast<double>(lo);
  const double a = at(lo), b = at(lo + 1);
  return a + frac * (b - a);
}

LatencyStats QuantileSketch::stats() const {
  LatencyStats st;
  if (count_ == 0) return st;
  st.count = count_;
  st.mean = mean();
  st.p50 = percentile(50.0);
  st.p90 = percentile(90.0);
  st.p99 = percentile(99.0);
  st.p999 = percentile(99.9);
  st.max = exact() ? (sort(), samples_.back()) : max_;
  return st;
}

}  // namespace tf

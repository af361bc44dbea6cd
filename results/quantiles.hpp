#pragma once
// Latency figures of a stream of values in bounded memory, mergeable.
//
// A QuantileSketch keeps the values themselves up to kExactSamples of them: its percentiles, mean and max are then
// exactly what latency_stats / percentile_sorted give over the same values (same bytes in summary.json). Beyond
// that bound it keeps a histogram of log-spaced buckets instead (bucket i holds (g^(i-1), g^i], g = (1 + a) / (1 -
// a), a = kRelativeError): each value read back from a bucket is within a relative error of a of the value it
// stands for, so a percentile (linear interpolation between two ranks, as percentile_sorted) is within a relative
// error of a of the exact one. The count, max and min stay exact; the mean is a compensated sum (exact to a few
// units in the last place). Values <= 0 (a request that never queued) are kept in a bucket of their own, read back
// as 0 clamped to [min, max] (latencies are never negative).
//
// Two sketches merge (counts add, buckets add); a merged sketch is the sketch of the two streams' values taken in
// one pass, but for the last bits of the mean.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tf {

struct LatencyStats;

class QuantileSketch {
 public:
  static constexpr std::size_t kExactSamples = std::size_t{1} << 18;
  static constexpr double kRelativeError = 1e-3;

  explicit QuantileSketch(std::size_t exact_samples = kExactSamples) : exact_limit_(exact_samples) {}

  void add(double v);
  void merge(const QuantileSketch& other);
  // Drops the kept values for the histogram (smaller; percentiles then within kRelativeError).
  void compact();

  std::size_t count() const { return count_; }
  bool exact() const { return histogram_.empty() && zero_count_ == 0 && count_ == samples_.size(); }
  double max() const { return max_; }
  double min() const { return min_; }
  double mean() const;

  // percentile_sorted(q) over the values, sorted, followed by `extra_top` copies of `top` (larger than any value:
  // requests never served, counted as beyond any target). 0 when there are no values and no extra.
  double percentile(double q, std::size_t extra_top = 0, double top = 0.0) const;
  // The value of rank k (0-based) among the values sorted (k < count()).
  double value_at_rank(std::size_t k) const;

  // mean, p50, p90, p99, p99.9, max and count: latency_stats over the same values when exact().
  LatencyStats stats() const;

 private:
  void sort() const;
  void to_histogram();
  void add_to_histogram(double v);
  double bucket_value(std::int64_t index) const;

  std::size_t exact_limit_;
  std::size_t count_ = 0;
  double sum_ = 0.0, compensation_ = 0.0;  // Neumaier's sum of the values
  double min_ = 0.0, max_ = 0.0;
  mutable std::vector<double> samples_;    // exact mode: the values (sorted when sorted_)
  mutable bool sorted_ = true;
  // Histogram mode: buckets first_index_ .. first_index_ + size - 1, and the values <= 0.
  std::vector<std::uint64_t> histogram_;
  std::int64_t first_index_ = 0;
  std::uint64_t zero_count_ = 0;
};

}  // namespace tf

// Generates requests in arrival order from three independent streams of one seed.
#include "workloads/generator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tf {

namespace {
// Stream numbers under the scenario seed; fixed forever so that old seeds keep their meaning.
constexpr std::uint64_t kArrivalStream = 1;
constexpr std::uint64_t kPromptStream = 2;
constexpr std::uint64_t kOutputStream = 3;
}  // namespace

RequestGenerator::RequestGenerator(const WorkloadSpec& spec, std::uint64_t seed, double duration_s)
    : arrivals_(make_arrival_process(spec.arrival)),
      prompt_(make_distribution(spec.prompt_tokens)),
      output_(make_distribution(spec.output_tokens)),
      arrival_rng_(make_stream(seed, kArrivalStream)),
      prompt_rng_(make_stream(seed, kPromptStream)),
      output_rng_(make_stream(seed, kOutputStream)),
      duration_s_(duration_s) {
  if (std::isnan(duration_s) || duration_s < 0.0) {
    throw std::invalid_argument(fmt::format("duration_s ({}) must not be negative", duration_s));
  }
}

std::optional<Request> RequestGenerator::next() {
  if (now_s_ >= duration_s_) return std::nullopt;
  const double t = arrivals_->next_arrival_s(now_s_, arrival_rng_);
  now_s_ = t;  // past the end, this keeps every later call at nothing
  if (t >= duration_s_) return std::nullopt;
  Request r;
  r.id = next_id_++;
  r.arrival_s = t;
  r.prompt_tokens = std::max<std::int64_t>(1, prompt_->sample(prompt_rng_));
  r.output_tokens = std::max<std::int64_t>(1, output_->sample(output_rng_));
  return r;
}

}  // namespace tf

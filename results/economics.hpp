#pragma once
// Energy and money a planner can quote: the measured window's GPU-hours, energy and cost, per day, per month and per
// million tokens, at stated prices.
//
// Default GPU-hour prices are on-demand rental rates (electricity, cooling and the host included in the rate, so
// no energy price is added unless one is given: `--kwh-price`, for owned hardware whose GPU-hour price is then the
// amortised purchase). Sources, each the middle of a published range:
//   a100-80gb $1.30, h100-sxm $3.00, h200-sxm $4.00: Mercatus GPU Index, "Cloud GPU pricing" (May 2026), the
//     specialty-cloud on-demand tier ($1.10-1.50, $2.50-3.50, $3.50-4.50 per GPU-hour);
//   b200 $5.25: Lyceum Technologies, "NVIDIA B200 GPU cloud pricing 2026" (March 2026), on-demand on specialised
//     clouds $4.50-6.00.
// Prices move fast and contracts differ by 2x or more: give your own with --gpu-hour-price.
// The energy is the GPUs' own (cluster/power.hpp), without the host or the facility (PUE).
// Plain arithmetic (results/ depends on nothing of ours but io/).
#include <optional>
#include <string>

#include "io/json.hpp"

namespace tf {

struct GpuPrice {
  double usd_per_gpu_hour = 0.0;
  std::string source;
};

// The default price of a catalogue GPU (nothing for one without a stated price).
std::optional<GpuPrice> default_gpu_price(const std::string& gpu);

constexpr double kDaysPerMonth = 365.25 / 12.0;

struct EconomicsInputs {
  double gpus = 0.0;               // the fleet (fixed over the window)
  double window_s = 0.0;           // the measured window
  double energy_kwh = 0.0;         // the GPUs' energy in it
  double tokens = 0.0;             // prompt + answer tokens offered in it
  double usd_per_gpu_hour = 0.0;
  std::string price_source;
  double usd_per_kwh = 0.0;        // 0: electricity included in the GPU-hour price
};

struct EconomicsPeriod {
  double gpu_hours = 0.0;
  double kwh = 0.0;
  double usd = 0.0;
};
TF_JSON_FIELDS(EconomicsPeriod, gpu_hours, kwh, usd)

struct Economics {
  double usd_per_gpu_hour = 0.0;
  std::string price_source;
  double usd_per_kwh = 0.0;
  double window_s = 0.0;
  double day_scale = 0.0;          // 86400 / window_s: a day of the window's demand (1 for a simulated day)
  EconomicsPeriod window, per_day, per_month;
  double usd_per_million_tokens = 0.0;
  double kwh_per_million_tokens = 0.0;
};
TF_JSON_FIELDS(Economics, usd_per_gpu_hour, price_source, usd_per_kwh, window_s, day_scale, window, per_day, per_month,
               usd_per_million_tokens, kwh_per_million_tokens)

// Throws std::invalid_argument for a window of no length.
Economics economics(const EconomicsInputs& in);

// "per day 96.0 GPU-hours, 45.3 kWh, $288; per month ...; $0.41 and 0.06 kWh per million tokens"
std::string economics_text(const Economics& e, const std::string& indent);

}  // namespace tf

// Energy and money per day, per month and per million tokens (see economics.hpp).
#include "results/economics.hpp"

#include <map>
#include <stdexcept>

#include <fmt/format.h>

namespace tf {

std::optional<GpuPrice> default_gpu_price(const std::string& gpu) {
  static const std::string mercatus =
      "default: Mercatus GPU Index, May 2026, specialty-cloud on-demand range, middle; electricity included";
  static const std::map<std::string, GpuPrice> prices{
      {"a100-80gb", {1.30, mercatus}},
      {"h100-sxm", {3.00, mercatus}},
      {"h200-sxm", {4.00, mercatus}},
      {"b200", {5.25, "default: Lyceum Technologies, March 2026, on-demand on specialised clouds, middle; electricity "
                      "included"}},
      // No commodity on-demand price per GPU-hour exists for GB200 NVL72: it is rented by the rack or fractions of
      // it through reservations (Yobitel knowledge base, "NVIDIA GB200", 2026). Our assumption: B200's price.
      {"gb200-nvl72", {5.25, "assumption: B200's on-demand price (Lyceum Technologies, March 2026); GB200 NVL72 is "
                             "rented by the rack, with no per-GPU-hour market"}},
  };
  const auto it = prices.find(gpu);
  if (it == prices.end()) return std::nullopt;
  return it->second;
}

Economics economics(const EconomicsInputs& in) {
  if (!(in.window_s > 0.0)) throw std::invalid_argument("economics: a window of no length");
  Economics e;
  e.usd_per_gpu_hour = in.usd_per_gpu_hour;
  e.price_source = in.price_source;
  e.usd_per_kwh = in.usd_per_kwh;
  e.window_s = in.window_s;
  e.day_scale = 86400.0 / in.window_s;
  e.window.gpu_hours = in.gpus * in.window_s / 3600.0;
  e.window.kwh = in.energy_kwh;
  e.window.usd = e.window.gpu_hours * in.usd_per_gpu_hour + e.window.kwh * in.usd_per_kwh;
  auto scaled = [](const EconomicsPeriod& p, double f) { return EconomicsPeriod{p.gpu_hours * f, p.kwh * f, p.usd * f}; };
  e.per_day = scaled(e.window, e.day_scale);
  e.per_month = scaled(e.per_day, kDaysPerMonth);
  if (in.tokens > 0.0) {
    e.usd_per_million_tokens = e.window.usd / (in.tokens / 1e6);
    e.kwh_per_million_tokens = e.window.kwh / (in.tokens / 1e6);
  }
  return e;
}

std::string economics_text(const Economics& e, const std::string& indent) {
  const bool day = e.day_scale > 0.999 && e.day_scale < 1.05;
  std::string out = fmt::format(
      "{0}per day{1}: {2:.1f} GPU-hours, {3:.1f} kWh at the GPUs, ${4:.2f}; per month ({5:.1f} days): {6:.0f} "
      "GPU-hours, {7:.0f} kWh, ${8:.0f}\n"
      "{0}  ${9:.4f} and {10:.4f} kWh per million tokens (prompt + answer); at ${11:.2f} per GPU-hour ({12}){13}\n",
      indent, day ? "" : fmt::format(" (the {:.2f} h window's demand all day long)", e.window_s / 3600.0),
      e.per_day.gpu_hours, e.per_day.kwh, e.per_day.usd, kDaysPerMonth, e.per_month.gpu_hours, e.per_month.kwh,
      e.per_month.usd, e.usd_per_million_tokens, e.kwh_per_million_tokens, e.usd_per_gpu_hour, e.price_source,
      e.usd_per_kwh > 0.0 ? fmt::format(" and ${:.3f} per kWh", e.usd_per_kwh) : "");
  return out;
}

}  // namespace tf

#include "cluster/profile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>
#include <vector>

#include "io/csv.hpp"

namespace tf {

namespace {

const std::vector<std::string> kColumns = {"gpu", "dtype", "op",      "m",       "n",     "k",
                                           "heads", "kv_heads", "head_dim", "context", "batch", "seconds"};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct Row {
  std::string op;
  double m = 0, n = 0, k = 0, heads = 0, kv_heads = 0, head_dim = 0, context = 0, batch = 0, seconds = 0;
};

}  // namespace

ProfileFit load_profile(const std::string& path, const GpuSpec& gpu, Dtype dtype, const CostParams& base) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open the profile", path));
  CsvReader reader(in);
  std::vector<std::string_view> fields;
  std::vector<Row> rows;
  bool header = false;
  auto fail = [&](const std::string& field, const std::string& what) {
    throw std::runtime_error(fmt::format("{}:{}: {}: {}", path, reader.line(), field, what));
  };
  while (true) {
    bool more;
    try {
      more = reader.next(fields);
    } catch (const CsvError& e) {
      throw std::runtime_error(fmt::format("{}:{}: {}", path, e.line(), e.reason()));
    }
    if (!more) break;
    if (fields.size() == 1 && fields[0].empty()) continue;
    if (!fields.empty() && !fields[0].empty() && fields[0].front() == '#') continue;
    if (!header) {
      std::vector<std::string> got(fields.begin(), fields.end());
      if (!got.empty() && got.back().size() && got.back().back() == '\r') got.back().pop_back();
      if (got != kColumns)
        fail("header", fmt::format("expected the columns {}", fmt::join(kColumns, ",")));
      header = true;
      continue;
    }
    if (fields.size() != kColumns.size())
      fail("row", fmt::format("expected {} fields, got {}", kColumns.size(), fields.size()));
    std::string last(fields.back());
    if (!last.empty() && last.back() == '\r') last.pop_back();
    fields.back() = last;
    if (find_gpu(std::string(fields[0])).value_or(GpuSpec{}).name != gpu.name && std::string(fields[0]) != gpu.name)
      fail("gpu", fmt::format("the profile was measured on '{}', but the scenario's GPU is '{}'", fields[0], gpu.name));
    if (std::string(fields[1]) != to_string(dtype))
      fail("dtype", fmt::format("the profile was measured in '{}', but the scenario runs in '{}'", fields[1],
                                to_string(dtype)));
    Row r;
    r.op = std::string(fields[2]);
    if (r.op != "gemm" && r.op != "attention_prefill" && r.op != "attention_decode" && r.op != "allreduce" &&
        r.op != "layer")
      fail("op", fmt::format("expected gemm, attention_prefill, attention_decode, allreduce or layer, got '{}'", r.op));
    double* slots[] = {&r.m, &r.n, &r.k, &r.heads, &r.kv_heads, &r.head_dim, &r.context, &r.batch, &r.seconds};
    for (std::size_t i = 0; i < 9; ++i) {
      const std::string_view f = fields[3 + i];
      double v = 0;
      const auto res = std::from_chars(f.data(), f.data() + f.size(), v);
      if (res.ec != std::errc{} || res.ptr != f.data() + f.size() || !std::isfinite(v) || v < 0)
        fail(kColumns[3 + i], fmt::format("expected a non-negative number, got '{}'", f));
      *slots[i] = v;
    }
    if (!(r.seconds > 0)) fail("seconds", "expected a time greater than 0");
    auto positive = [&](double v, const char* field) {
      if (!(v > 0)) fail(field, fmt::format("expected a number greater than 0 for op {}", r.op));
    };
    if (r.op == "gemm") {
      positive(r.m, "m");
      positive(r.n, "n");
      positive(r.k, "k");
    } else if (r.op == "attention_prefill" || r.op == "attention_decode") {
      positive(r.heads, "heads");
      positive(r.kv_heads, "kv_heads");
      positive(r.head_dim, "head_dim");
      positive(r.context, "context");
      positive(r.batch, "batch");
    } else if (r.op == "allreduce") {
      positive(r.n, "n");
      positive(r.k, "k");
    }
    rows.push_back(r);
  }
  if (!header) throw std::runtime_error(fmt::format("{}: the profile is empty (no header)", path));

  ProfileFit fit;
  fit.params = base;
  const double F = gpu.peak_flops(dtype), B = gpu.hbm_bandwidth_Bps, bpe = bytes_per_element(dtype);
  // The kit times attention in 16 bits even for an FP8 profile (the KV cache and its reads in bf16): score those
  // rows against the 16-bit peak and 2-byte elements, then express the result in the cost model's FP8 terms.
  const double attention_F = gpu.peak_flops(Dtype::fp16), attention_bpe = dtype == Dtype::fp8 ? 2.0 : bpe;
  std::map<double, std::vector<double>> gemm_by_m;
  double best_small_bandwidth = 0.0;
  std::vector<double> prefill, decode, ar_bytes, ar_seconds;
  for (const Row& r : rows) {
    if (r.op == "gemm") {
      ++fit.gemm_rows;
      gemm_by_m[r.m].push_back(2.0 * r.m * r.n * r.k / (r.seconds * F));
      if (r.m <= 16) {
        const double bytes = r.n * r.k * bpe + (r.m * r.k + r.m * r.n) * 2.0;
        best_small_bandwidth = std::max(best_small_bandwidth, bytes / (r.seconds * B));
      }
    } else if (r.op == "attention_prefill") {
      ++fit.attention_prefill_rows;
      const double pairs = r.batch * r.context * (r.context + 1.0) / 2.0;
      prefill.push_back(4.0 * r.heads * r.head_dim * pairs / (r.seconds * attention_F));
    } else if (r.op == "attention_decode") {
      ++fit.attention_decode_rows;
      const double bytes = r.batch * r.context * 2.0 * r.kv_heads * r.head_dim * attention_bpe;
      decode.push_back(bytes / (r.seconds * B));
    } else if (r.op == "allreduce") {
      ++fit.allreduce_rows;
      if (r.k >= 2) {
        ar_bytes.push_back(2.0 * (r.k - 1.0) / r.k * r.n);
        ar_seconds.push_back(r.seconds);
      }
    } else {
      ++fit.layer_rows;
    }
  }
  if (!gemm_by_m.empty()) {
    auto curve = std::make_shared<GemmEfficiencyCurve>();
    for (const auto& [m, effs] : gemm_by_m) {
      curve->m.push_back(m);
      curve->efficiency.push_back(std::min(1.0, median(effs)));
    }
    fit.params.gemm_profile = curve;
    fit.params.mfu = *std::max_element(curve->efficiency.begin(), curve->efficiency.end());
  }
  if (best_small_bandwidth > 0.0) fit.params.mbu = std::min(1.0, best_small_bandwidth);
  if (!prefill.empty()) {
    // The cost model costs prefill attention at F(dtype) x fp8_efficiency (FP8) x this: keep the measured FLOP/s.
    const double scale = dtype == Dtype::fp8 ? attention_F / (F * base.fp8_efficiency) : 1.0;
    fit.params.attention_prefill_efficiency = std::min(1.0, median(prefill) * scale);
  }
  if (!decode.empty()) fit.params.attention_decode_efficiency = std::min(1.0, median(decode));
  if (ar_bytes.size() >= 2) {
    // seconds = latency + bytes / bus: least squares.
    const double n = static_cast<double>(ar_bytes.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < ar_bytes.size(); ++i) {
      sx += ar_bytes[i];
      sy += ar_seconds[i];
      sxx += ar_bytes[i] * ar_bytes[i];
      sxy += ar_bytes[i] * ar_seconds[i];
    }
    const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    const double intercept = (sy - slope * sx) / n;
    if (slope > 0.0 && gpu.nvlink_Bps > 0.0) {
      fit.params.allreduce_bus_efficiency = std::min(1.0, 1.0 / slope / (gpu.nvlink_Bps / 2.0));
      fit.params.allreduce_latency_s = std::max(0.0, intercept);
    }
  }
  return fit;
}

}  // namespace tf

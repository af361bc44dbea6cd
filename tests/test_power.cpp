// The power model (cluster/power.hpp): a GPU's draw against what it does, checked against the published H100
// measurements it is fitted to and against the bounds every GPU must keep.
#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>

#include "cluster/catalog.hpp"
#include "cluster/power.hpp"

using namespace tf;

TEST_CASE("H100 decode power at batch 1 and 128 is within 10 % of ML.ENERGY's 300 W and 580 W", "[power]") {
  const PowerModel p(*find_gpu("h100-sxm"));
  INFO("batch 1: " << p.decode_w(1) << " W, batch 128: " << p.decode_w(128) << " W");
  CHECK(p.decode_w(1) == Approx(300.0).epsilon(0.10));
  CHECK(p.decode_w(128) == Approx(580.0).epsilon(0.10));
  // The curve is built through those points, so it meets them exactly.
  CHECK(p.decode_w(1) == Approx(300.0).epsilon(1e-12));
  CHECK(p.decode_w(128) == Approx(580.0).epsilon(1e-12));
  // Between them it follows the G2G logistic that vLLM's fleet simulator fitted (its readings of G2G's Fig. 2:
  // ~435 W at 16, ~507 W at 32, ~557 W at 64), within 3 %.
  CHECK(p.decode_w(16) == Approx(435.0).epsilon(0.03));
  CHECK(p.decode_w(32) == Approx(507.0).epsilon(0.03));
  CHECK(p.decode_w(64) == Approx(557.0).epsilon(0.03));
  // Beyond 128 it levels off towards ML.ENERGY's ~600 W, well below TDP.
  CHECK(p.decode_w(4096) < 610.0);
  CHECK(p.decode_w(4096) > p.decode_w(128));
}

TEST_CASE("power rises with the batch and stays between idle and TDP, for every GPU of the catalogue", "[power]") {
  for (const GpuSpec& g : gpu_catalog()) {
    INFO(g.name);
    const PowerModel p(g);
    CHECK(p.idle_w() == g.idle_watts);
    CHECK(p.tdp_w() == g.busy_watts);
    double last = p.idle_w();
    for (std::int64_t b = 1; b <= 1 << 16; b *= 2) {
      INFO("batch " << b);
      const double w = p.decode_w(b);
      CHECK(w > last);
      CHECK(w >= p.idle_w());
      CHECK(w <= p.tdp_w());
      last = w;
    }
    // Every batch, not only powers of two.
    for (std::int64_t b = 1; b < 600; ++b) CHECK(p.decode_w(b + 1) >= p.decode_w(b));
    // Prefill: never below the decode draw of its batch, rising with its tokens, TDP once they are many.
    double last_prefill = 0.0;
    for (std::int64_t n = 1; n <= 1 << 16; n *= 2) {
      INFO("tokens " << n);
      const double w = p.prefill_w(1, n);
      CHECK(w >= last_prefill);
      CHECK(w >= p.decode_w(1));
      CHECK(w <= p.tdp_w());
      last_prefill = w;
    }
    CHECK(p.prefill_w(1, 2048) == Approx(p.tdp_w()));
    CHECK(p.prefill_w(1, 8192) == Approx(p.tdp_w()));
    CHECK(p.prefill_w(64, 64) >= p.decode_w(64));
    CHECK(p.prefill_w(256, 300) >= p.decode_w(256));
    // A swap step (PCIe copies, no compute) draws the batch-1 decode power.
    CHECK(p.transfer_w() == p.decode_w(1));
  }
}

TEST_CASE("other GPUs get H100's curve as fractions of their own range from idle to TDP", "[power]") {
  const double f1 = (300.0 - 75.0) / (700.0 - 75.0), f128 = (580.0 - 75.0) / (700.0 - 75.0);
  for (const char* name : {"a100-80gb", "h200-sxm", "b200"}) {
    const GpuSpec g = *find_gpu(name);
    const PowerModel p(g);
    INFO(name << ": " << p.decode_w(1) << " W at 1, " << p.decode_w(128) << " W at 128");
    CHECK(p.decode_w(1) == Approx(g.idle_watts + f1 * (g.busy_watts - g.idle_watts)));
    CHECK(p.decode_w(128) == Approx(g.idle_watts + f128 * (g.busy_watts - g.idle_watts)));
  }
  // A100: 50 W idle, 400 W TDP: 176 W and 332.8 W.
  const PowerModel a100(*find_gpu("a100-80gb"));
  CHECK(a100.decode_w(1) == Approx(176.0));
  CHECK(a100.decode_w(128) == Approx(332.8));
}

TEST_CASE("a GPU's own decode figures set its curve - figures out of order are refused", "[power]") {
  GpuSpec g = *find_gpu("h100-sxm");
  g.decode_batch1_watts = 250.0;
  g.decode_batch128_watts = 650.0;
  const PowerModel p(g);
  CHECK(p.decode_w(1) == Approx(250.0));
  CHECK(p.decode_w(128) == Approx(650.0));
  CHECK(p.decode_w(16) > 250.0);
  CHECK(p.decode_w(16) < 650.0);
  CHECK(p.decode_w(1 << 20) <= 700.0);  // capped at TDP
  GpuSpec only1 = *find_gpu("h100-sxm");
  only1.decode_batch1_watts = 200.0;  // batch 128 stays H100's scaled figure
  CHECK(PowerModel(only1).decode_w(1) == Approx(200.0));
  CHECK(PowerModel(only1).decode_w(128) == Approx(580.0));

  GpuSpec bad = *find_gpu("h100-sxm");
  bad.decode_batch1_watts = 600.0;
  bad.decode_batch128_watts = 500.0;
  CHECK_THROWS_AS(PowerModel(bad), std::invalid_argument);
  bad.decode_batch1_watts = 50.0;  // below idle
  CHECK_THROWS_AS(PowerModel(bad), std::invalid_argument);
  bad.decode_batch1_watts = 300.0;
  bad.decode_batch128_watts = 800.0;  // above TDP
  CHECK_THROWS_AS(PowerModel(bad), std::invalid_argument);
}

TEST_CASE("the flat model draws busy power for every step (the busy-or-idle model it replaced)", "[power]") {
  const PowerModel p = PowerModel::flat(75.0, 700.0);
  CHECK(p.idle_w() == 75.0);
  CHECK(p.decode_w(1) == 700.0);
  CHECK(p.decode_w(256) == 700.0);
  CHECK(p.prefill_w(1, 10) == 700.0);
  CHECK(p.transfer_w() == 700.0);
  CHECK(p.step_w(PowerActivity::decode, 3, 3) == 700.0);
}

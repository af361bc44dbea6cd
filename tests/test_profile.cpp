// A measured GPU profile ([cost] profile): the loader recovers the efficiencies a (synthetic) table was made from,
// the cost model then uses them, and a table from another GPU or malformed is refused with file:line:field.
#include <catch2/catch.hpp>

#include <fstream>

#include "cluster/catalog.hpp"
#include "cluster/cost_model.hpp"
#include "cluster/profile.hpp"
#include "helpers.hpp"

using namespace tf;
using Catch::Matchers::WithinRel;

namespace {
std::string fixture() { return test::source_dir() + "/tests/data/profiles/h100-fp16-synthetic.csv"; }

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = test::temp_dir("profile") + "/" + name;
  std::ofstream(path) << text;
  return path;
}
}  // namespace

TEST_CASE("profile: the loader recovers the efficiencies its synthetic table was made from", "[profile]") {
  const GpuSpec h100 = *find_gpu("h100-sxm");
  const ProfileFit fit = load_profile(fixture(), h100, Dtype::fp16, CostParams{});
  CHECK(fit.gemm_rows == 9);
  CHECK(fit.attention_prefill_rows == 2);
  CHECK(fit.attention_decode_rows == 2);
  CHECK(fit.allreduce_rows == 2);
  CHECK(fit.layer_rows == 1);
  REQUIRE(fit.params.gemm_profile);
  const auto& curve = *fit.params.gemm_profile;
  CHECK_THAT(curve.at(256), WithinRel(0.40, 1e-5));
  CHECK_THAT(curve.at(4096), WithinRel(0.70, 1e-5));
  CHECK_THAT(curve.at(1e6), WithinRel(0.70, 1e-5));   // beyond the last point: the last point
  CHECK_THAT(fit.params.mbu, WithinRel(0.85, 1e-5));   // the best small-M bandwidth
  CHECK_THAT(fit.params.attention_prefill_efficiency, WithinRel(0.5, 1e-5));
  CHECK_THAT(fit.params.attention_decode_efficiency, WithinRel(0.65, 1e-5));
  CHECK_THAT(fit.params.allreduce_latency_s, WithinRel(20e-6, 1e-4));
  CHECK_THAT(fit.params.allreduce_bus_efficiency, WithinRel(0.8, 1e-4));
  // Parameters the table does not measure stay as given.
  CHECK(fit.params.overhead_s == CostParams{}.overhead_s);

  // The cost model with the profile: a large GEMM at M = 4096 runs at the measured 70 % of peak.
  const CostModel c(*find_model("llama-3.1-8b"), h100, Dtype::fp16, 1, fit.params);
  CHECK_THAT(c.gemm_efficiency(4096), WithinRel(0.70, 1e-5));
}

TEST_CASE("profile: a table from another GPU or dtype, or a malformed one, is refused naming file, line and field",
          "[profile]") {
  const GpuSpec h200 = *find_gpu("h200-sxm"), h100 = *find_gpu("h100-sxm");
  auto message = [](const std::string& path, const GpuSpec& g, Dtype d) {
    try {
      load_profile(path, g, d, CostParams{});
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message(fixture(), h200, Dtype::fp16), Catch::Contains(":3: gpu: the profile was measured on 'h100-sxm'"));
  CHECK_THAT(message(fixture(), h100, Dtype::fp8), Catch::Contains("dtype: the profile was measured in 'fp16'"));
  const std::string header = "gpu,dtype,op,m,n,k,heads,kv_heads,head_dim,context,batch,seconds\n";
  CHECK_THAT(message(write_temp("a.csv", header + "h100-sxm,fp16,gemm,1,2,3,0,0,0,0,0,-1\n"), h100, Dtype::fp16),
             Catch::Contains("a.csv:2: seconds: expected a non-negative number, got '-1'"));
  CHECK_THAT(message(write_temp("b.csv", header + "h100-sxm,fp16,conv,1,2,3,0,0,0,0,0,1\n"), h100, Dtype::fp16),
             Catch::Contains("b.csv:2: op: expected gemm"));
  CHECK_THAT(message(write_temp("c.csv", "gpu,op\n"), h100, Dtype::fp16), Catch::Contains("c.csv:1: header"));
  CHECK_THAT(message(write_temp("d.csv", ""), h100, Dtype::fp16), Catch::Contains("the profile is empty"));
  CHECK_THAT(message("/nonexistent/p.csv", h100, Dtype::fp16), Catch::Contains("cannot open"));
}

// [hardware] and [hardware.gpu]: the GPU (a catalogue name, or a table of figures), tensor parallelism, the
// number format and the network.
#include "sim/scenario/loader.hpp"

#include "cluster/power.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>

namespace tf::loader {

namespace {

GpuSpec read_gpu(const Section& hw) {
  const toml::node* n = hw.node("gpu");
  if (!n) return *find_gpu("h100-sxm");
  const std::string known = catalogue_names(gpu_catalog());
  if (n->is_string()) {
    const std::string name = n->as_string()->get();
    if (auto found = find_gpu(name)) return *found;
    hw.fail("gpu", fmt::format("unknown GPU '{}'; known GPUs: {} (or give a table: gpu = {{ name = ..., {} }})", name,
                               known, join(kGpuFigureKeys, " = ..., ") + " = ..."));
  }
  if (!n->is_table()) hw.wrong_type("gpu", "a string (a catalogue GPU) or a table (an explicit GPU)");

  const Section g = hw.table("gpu");
  const auto name = g.string("name");
  const bool any_figure =
      std::any_of(kGpuFigureKeys.begin(), kGpuFigureKeys.end(), [&](const std::string& k) { return g.has(k); });
  GpuSpec gpu;
  bool custom = false;
  if (name) {
    if (auto found = find_gpu(*name)) {
      gpu = *found;
    } else if (!any_figure) {
      g.fail("name", fmt::format("unknown GPU '{}'; known GPUs: {} (or give its figures: {})", *name, known,
                                 join(kGpuFigureKeys)));
    } else {
      custom = true;
      gpu.name = *name;
    }
  } else {
    custom = true;
    gpu.name = "custom-gpu";
  }
  if (custom) {
    for (const std::string k : {"fp16_tflops", "hbm_gb", "hbm_bandwidth_tbps", "nvlink_gbps", "idle_watts",
                                "busy_watts"})
      if (!g.has(k))
        g.fail(k, fmt::format("missing: {}, so its figures must be given (fp16_tflops, hbm_gb, "
                              "hbm_bandwidth_tbps, nvlink_gbps, idle_watts, busy_watts; fp8_tflops and pcie_gbps are optional); "
                              "to change a catalogue GPU, name it, e.g. gpu = {{ name = \"h100-sxm\", hbm_gb = 94 }} "
                              "(known GPUs: {})",
                              name ? fmt::format("'{}' is not in the catalogue", *name) : "the GPU has no name",
                              known));
  }
  // Each figure bounded to a range far beyond any GPU made (the largest today: about 5,000 TFLOPS of FP8, 288 GB
  // of HBM at 8 TB/s, 1.8 TB/s of NVLink, 1,200 W), so that a typo's 1e300 is refused here instead of overflowing
  // the cost model ("inf GB of usable HBM").
  using R = Section::Range;
  gpu.fp16_flops = g.number_in("fp16_tflops", gpu.fp16_flops / 1e12, R{0.0, 1e6, false, true}) * 1e12;
  gpu.fp8_flops = g.number_in("fp8_tflops", gpu.fp8_flops / 1e12, R{0.0, 1e6, true, true}) * 1e12;
  gpu.hbm_bytes = g.number_in("hbm_gb", gpu.hbm_bytes / 1e9, R{0.0, 1e5, false, true}) * 1e9;
  gpu.hbm_bandwidth_Bps = g.number_in("hbm_bandwidth_tbps", gpu.hbm_bandwidth_Bps / 1e12, R{0.0, 1e3, false, true}) * 1e12;
  gpu.nvlink_Bps = g.number_in("nvlink_gbps", gpu.nvlink_Bps / 1e9, R{0.0, 1e5, true, true}) * 1e9;
  gpu.pcie_Bps = g.number_in("pcie_gbps", gpu.pcie_Bps / 1e9, R{0.0, 1e4, true, true}) * 1e9;
  gpu.idle_watts = g.number_in("idle_watts", gpu.idle_watts, R{0.0, 1e5, true, true});
  gpu.busy_watts = g.number_in("busy_watts", gpu.busy_watts, R{0.0, 1e5, true, true});
  if (gpu.busy_watts < gpu.idle_watts)
    g.fail(g.has("busy_watts") ? "busy_watts" : "idle_watts",
           fmt::format("busy_watts ({}) cannot be below idle_watts ({})", num(gpu.busy_watts), num(gpu.idle_watts)));
  // The decode power curve (cluster/power.hpp): measured power per GPU at batch 1 and 128, optional (without them,
  // H100's measured curve scaled to this GPU's idle and busy power); in order idle <= batch 1 <= batch 128 <= busy.
  gpu.decode_batch1_watts = g.number_in("decode_batch1_watts", gpu.decode_batch1_watts, Section::at_least(0));
  gpu.decode_batch128_watts = g.number_in("decode_batch128_watts", gpu.decode_batch128_watts, Section::at_least(0));
  // Either may be given alone: the other is then H100's curve scaled to this GPU.
  GpuSpec plain = gpu;
  plain.decode_batch1_watts = plain.decode_batch128_watts = 0.0;
  const PowerModel scaled(plain);
  const bool has1 = g.has("decode_batch1_watts"), has128 = g.has("decode_batch128_watts");
  const double p1 = has1 ? gpu.decode_batch1_watts : scaled.decode_w(1);
  const double p128 = has128 ? gpu.decode_batch128_watts : scaled.decode_w(128);
  auto figure = [&](bool given, double w) { return given ? num(w) : fmt::format("{:.1f}, scaled from H100's curve", w); };
  if (has1 && (p1 < gpu.idle_watts || p1 > gpu.busy_watts))
    g.fail("decode_batch1_watts", fmt::format("decode_batch1_watts ({}) must lie between idle_watts ({}) and "
                                              "busy_watts ({}, the maximum power)",
                                              num(p1), num(gpu.idle_watts), num(gpu.busy_watts)));
  if (has128 && (p128 < gpu.idle_watts || p128 > gpu.busy_watts))
    g.fail("decode_batch128_watts", fmt::format("decode_batch128_watts ({}) must lie between idle_watts ({}) and "
                                                "busy_watts ({}, the maximum power)",
                                                num(p128), num(gpu.idle_watts), num(gpu.busy_watts)));
  if (p128 < p1)
    g.fail(has128 ? "decode_batch128_watts" : "decode_batch1_watts",
           fmt::format("decode_batch128_watts ({}) cannot be below decode_batch1_watts ({}): power rises with the "
                       "batch",
                       figure(has128, p128), figure(has1, p1)));
  return gpu;
}

}  // namespace

// The GPU, its number format and the replica's layout from `hw` ([hardware], or a [[fleet.pool]] entry whose keys
// left out take what `s` has: hardware's), checked together.
void read_layout(const Section& hw, Scenario& s, bool pool) {
  if (!pool || hw.has("gpu")) s.gpu = read_gpu(hw);
  s.gpus_per_node = static_cast<int>(hw.integer_in("gpus_per_node", pool ? s.gpus_per_node : 8, 1, 1024));
  if (s.gpus_per_node > s.gpu.nvlink_domain)
    hw.fail("gpus_per_node",
            fmt::format("gpus_per_node ({}) exceeds the {} GPUs of one NVLink domain of {} (a node here is an NVLink "
                        "domain: 8 on HGX boards, 72 for gb200-nvl72); replicas larger than a node take pipeline "
                        "stages on successive nodes (hardware.pipeline_parallel)",
                        s.gpus_per_node, s.gpu.nvlink_domain, s.gpu.name));
  s.tensor_parallel = static_cast<int>(hw.integer_in("tensor_parallel", pool ? s.tensor_parallel : 1, 1, 1024));
  if (s.tensor_parallel > s.gpus_per_node || s.gpus_per_node % s.tensor_parallel != 0) {
    hw.fail(hw.has("tensor_parallel") ? "tensor_parallel" : "gpus_per_node",
            fmt::format("tensor_parallel ({}) must divide gpus_per_node ({}): a pipeline stage takes GPUs of one node",
                        s.tensor_parallel, s.gpus_per_node));
  }
  s.pipeline_parallel = static_cast<int>(hw.integer_in("pipeline_parallel", pool ? s.pipeline_parallel : 1, 1, 1024));
  s.expert_parallel = static_cast<int>(hw.integer_in("expert_parallel", pool ? s.expert_parallel : 1, 1, 1024));
  s.micro_batches = static_cast<int>(hw.integer_in("micro_batches", pool ? s.micro_batches : 0, 0, 1 << 20));
  const int g = s.gpus_per_replica();
  if (g <= s.gpus_per_node ? s.gpus_per_node % g != 0 : g % s.gpus_per_node != 0)
    hw.fail("pipeline_parallel",
            fmt::format("a replica of tensor_parallel x pipeline_parallel = {} x {} = {} GPUs must divide a node of "
                        "gpus_per_node = {} or take whole nodes (a multiple of it)",
                        s.tensor_parallel, s.pipeline_parallel, g, s.gpus_per_node));
  if (s.expert_parallel > 1 && s.tensor_parallel % s.expert_parallel != 0)
    hw.fail("expert_parallel",
            fmt::format("expert_parallel ({}) must divide tensor_parallel ({}): the experts of a layer are spread over "
                        "the GPUs of a stage's tensor-parallel group",
                        s.expert_parallel, s.tensor_parallel));
  if (s.expert_parallel > 1 && !s.model.moe())
    hw.fail("expert_parallel",
            fmt::format("expert_parallel ({}) needs a mixture-of-experts model, but {} is dense (model.experts = 0): "
                        "there are no experts to spread; leave expert_parallel at 1",
                        s.expert_parallel, s.model.name));
  if (s.expert_parallel > 1 && s.model.experts % s.expert_parallel != 0)
    hw.fail("expert_parallel", fmt::format("expert_parallel ({}) must divide {}'s {} experts per layer",
                                           s.expert_parallel, s.model.name, s.model.experts));
  if (s.pipeline_parallel > s.model.layers)
    hw.fail("pipeline_parallel", fmt::format("pipeline_parallel ({}) exceeds {}'s {} layers: every stage needs at "
                                             "least one layer",
                                             s.pipeline_parallel, s.model.name, s.model.layers));
  if (s.micro_batches > 0 && s.pipeline_parallel == 1 && hw.has("micro_batches"))
    hw.fail("micro_batches", "micro_batches needs pipeline_parallel > 1 (one stage has no pipeline to fill)");
  if (s.tensor_parallel > 1 && s.gpu.nvlink_Bps <= 0)
    hw.fail("tensor_parallel",
            fmt::format("tensor_parallel ({}) needs NVLink, but {} has nvlink_gbps = 0", s.tensor_parallel, s.gpu.name));
  if (auto dtype = hw.string("dtype")) {
    auto d = parse_dtype(*dtype);
    if (!d) hw.fail("dtype", fmt::format("expected one of fp16, bf16, fp8, got \"{}\"", *dtype));
    s.dtype = *d;
  }
  if (s.gpu.peak_flops(s.dtype) <= 0)
    hw.fail(hw.has("dtype") ? "dtype" : "gpu",
            fmt::format("{} has no {} support (its {} peak is 0); use hardware.dtype = \"fp16\" or \"bf16\"",
                        s.gpu.name, to_string(s.dtype), to_string(s.dtype)));
}

void read_hardware(const Section& top, Scenario& s) {
  const Section hw = top.table("hardware");
  read_layout(hw, s, false);
  s.network_Bps = hw.number_in("network_gbps", 400.0, Section::Range{0.0, 1e6, false, true}) * 1e9 / 8.0;
  s.network_latency_s = hw.number_in("network_latency_us", 5.0, Section::Range{0.0, 1e6, true, true}) * 1e-6;
}

}  // namespace tf::loader

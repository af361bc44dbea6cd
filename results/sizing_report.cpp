#include "results/sizing_report.hpp"

namespace tf {

void to_json(nlohmann::ordered_json& j, const SizingEffective& e) {
  j = nlohmann::ordered_json::object();
  j["utilization"] = e.utilization;
  j["mean_flops_gpus_at_full_utilization"] = e.mean_flops_gpus_at_full_utilization;
  j["peak_multiple_vs_mean_flops_fleet"] = e.peak_multiple_vs_mean_flops_fleet;
  if (e.mean_load_fleet_replicas > 0) {
    j["mean_load_fleet_replicas"] = e.mean_load_fleet_replicas;
    j["peak_multiple_vs_mean_load_fleet"] = e.peak_multiple_vs_mean_load_fleet;
  } else {
    j["peak_multiple_vs_mean_load_fleet_note"] = e.peak_multiple_vs_mean_load_fleet_note;
  }
}

void from_json(const nlohmann::ordered_json& j, SizingEffective& e) {
  e = SizingEffective{};
  j.at("utilization").get_to(e.utilization);
  j.at("mean_flops_gpus_at_full_utilization").get_to(e.mean_flops_gpus_at_full_utilization);
  j.at("peak_multiple_vs_mean_flops_fleet").get_to(e.peak_multiple_vs_mean_flops_fleet);
  if (j.contains("mean_load_fleet_replicas")) {
    j.at("mean_load_fleet_replicas").get_to(e.mean_load_fleet_replicas);
    j.at("peak_multiple_vs_mean_load_fleet").get_to(e.peak_multiple_vs_mean_load_fleet);
  } else {
    j.at("peak_multiple_vs_mean_load_fleet_note").get_to(e.peak_multiple_vs_mean_load_fleet_note);
  }
}

void to_json(nlohmann::ordered_json& j, const SizingGpuResult& g) {
  j = nlohmann::ordered_json::object();
  j["gpu"] = g.gpu;
  j["found"] = g.found;
  if (!g.found) {
    j["reason"] = g.reason;
    return;
  }
  j["gpu_type"] = g.gpu_type;
  j["tensor_parallel"] = g.tensor_parallel;
  if (g.pipeline_parallel > 1) j["pipeline_parallel"] = g.pipeline_parallel;
  if (g.expert_parallel > 1) j["expert_parallel"] = g.expert_parallel;
  j["max_batch"] = g.max_batch;
  j["best_of_type"] = g.best_of_type;
  j["binding_limit"] = g.binding_limit;
  j["binding_evidence"] = g.binding_evidence;
  j["replicas"] = g.replicas;
  if (g.prefill_replicas > 0) j["prefill_replicas"] = g.prefill_replicas;
  j["gpus"] = g.gpus;
  j["answer"] = g.answer;
  if (g.one_fewer) j["one_fewer"] = *g.one_fewer;
  j["gpu_hours"] = g.gpu_hours;
  j["energy_kwh"] = g.energy_kwh;
  if (g.cost) j["cost"] = *g.cost;
  j["analytic_estimate"] = g.analytic_estimate;
  j["effective"] = g.effective;
  if (g.decomposition) j["decomposition"] = *g.decomposition;
  if (g.economics) j["economics"] = *g.economics;
  j["batch_occupancy"] = g.batch_occupancy;
  if (g.margin) j["margin"] = *g.margin;
  if (g.one_fewer_margin) j["one_fewer_margin"] = *g.one_fewer_margin;
  if (g.per_hour) {
    j["per_hour"] = *g.per_hour;
    j["gpu_hours_per_hour_schedule"] = g.gpu_hours_per_hour_schedule;
    j["gpu_hours_fixed_fleet"] = g.gpu_hours_fixed_fleet;
  }
  if (g.fleet_comparison) j["fleet_comparison"] = *g.fleet_comparison;
  if (g.pods) j["pods"] = *g.pods;
  if (g.pools) j["pools"] = *g.pools;
}

void from_json(const nlohmann::ordered_json& j, SizingGpuResult& g) {
  g = SizingGpuResult{};
  j.at("gpu").get_to(g.gpu);
  j.at("found").get_to(g.found);
  if (!g.found) {
    j.at("reason").get_to(g.reason);
    return;
  }
  j.at("gpu_type").get_to(g.gpu_type);
  j.at("tensor_parallel").get_to(g.tensor_parallel);
  if (j.contains("pipeline_parallel")) j.at("pipeline_parallel").get_to(g.pipeline_parallel);
  if (j.contains("expert_parallel")) j.at("expert_parallel").get_to(g.expert_parallel);
  j.at("max_batch").get_to(g.max_batch);
  j.at("best_of_type").get_to(g.best_of_type);
  j.at("binding_limit").get_to(g.binding_limit);
  j.at("binding_evidence").get_to(g.binding_evidence);
  j.at("replicas").get_to(g.replicas);
  if (j.contains("prefill_replicas")) j.at("prefill_replicas").get_to(g.prefill_replicas);
  j.at("gpus").get_to(g.gpus);
  j.at("answer").get_to(g.answer);
  if (j.contains("one_fewer")) g.one_fewer = j.at("one_fewer").get<SizingOneFewer>();
  j.at("gpu_hours").get_to(g.gpu_hours);
  j.at("energy_kwh").get_to(g.energy_kwh);
  if (j.contains("cost")) g.cost = j.at("cost").get<double>();
  j.at("analytic_estimate").get_to(g.analytic_estimate);
  j.at("effective").get_to(g.effective);
  if (j.contains("decomposition")) g.decomposition = j.at("decomposition").get<Decomposition>();
  if (j.contains("economics")) g.economics = j.at("economics").get<Economics>();
  j.at("batch_occupancy").get_to(g.batch_occupancy);
  if (j.contains("margin")) g.margin = j.at("margin").get<Margin>();
  if (j.contains("one_fewer_margin")) g.one_fewer_margin = j.at("one_fewer_margin").get<Margin>();
  if (j.contains("per_hour")) {
    g.per_hour = j.at("per_hour").get<std::vector<SizingHour>>();
    j.at("gpu_hours_per_hour_schedule").get_to(g.gpu_hours_per_hour_schedule);
    j.at("gpu_hours_fixed_fleet").get_to(g.gpu_hours_fixed_fleet);
  }
  if (j.contains("fleet_comparison"))
    g.fleet_comparison = j.at("fleet_comparison").get<std::vector<FleetComparisonRow>>();
  if (j.contains("pods")) g.pods = j.at("pods").get<SizingPods>();
  if (j.contains("pools")) g.pools = j.at("pools").get<std::vector<SizingPool>>();
}

}  // namespace tf

#pragma once
// `tokenfleet estimate` and `tokenfleet size`.
#include <map>
#include <string>
#include <vector>

namespace tf {

struct EstimateCommand {
  std::string scenario_path;              // a scenario (its demand, model and GPU), or
  std::string preset;                     // a built-in preset: "huafu-2024"
  std::vector<std::string> overrides;     // --set: scenario keys, or YEAR.field=value with a preset
  double peak_multiple = 4.0;             // k for a scenario (the report's 2024 value)
  double utilization = 0.34;              // u for a scenario (the report's 2024 value)
};
int command_estimate(const EstimateCommand& cmd);

struct SizeCommand {
  std::string scenario_path;
  std::vector<std::string> overrides;
  std::string window = "whole";           // whole | busiest-hour
  int jobs = 0;                           // 0: the number of cores
  int max_replicas = 4096;
  int seeds = 1;
  double pass_share = 1.0;
  bool per_hour = false;
  std::vector<std::string> gpus;          // size for each of these GPU types
  std::map<std::string, double> gpu_hour_price;  // $ per GPU-hour, by GPU name
  double kwh_price = 0.0;                 // $ per kWh
  double peak_multiple = 4.0;             // for the analytic estimate printed beside the answer
  double utilization = 0.34;
  std::string out_dir;
  bool report = false;                    // also build report.html in out_dir
};
int command_size(const SizeCommand& cmd);

}  // namespace tf

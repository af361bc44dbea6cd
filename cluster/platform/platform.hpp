#pragma once
// Turns the topology graph (cluster/topology.hpp) into a SimGrid platform: one host per GPU (named like its
// vertex, "gpu-<i>", one core at the GPU's FP16 peak), routers for the NVLink switches and the core switch,
// one link per graph edge, and routes from the graph (a Dijkstra zone: one route per edge).
//
// Call order: xbt_log_control_set("root.thres:critical"), create the Engine, set --cfg options, then
// build_platform(), then actors and Engine::run(). Power and energy are not SimGrid's: cluster/power.hpp.
#include <functional>
#include <string>
#include <vector>

#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>

#include "cluster/catalog.hpp"
#include "cluster/topology.hpp"

namespace tf {

struct PlatformHandles {
  std::vector<simgrid::s4u::Host*> gpus;  // gpu-0 .. gpu-(n-1), in topology order
};

// Builds the platform as the Engine's root zone ("tokenfleet"). Call once per Engine (one per process).
// `poll`, when given, is called every 1024 hosts or links (it may throw, to stop a long set-up).
PlatformHandles build_platform(simgrid::s4u::Engine& e, const Topology& topo, const GpuSpec& gpu,
                               const std::function<void()>& poll = {});

}  // namespace tf

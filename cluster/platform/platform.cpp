// The SimGrid platform built from the topology graph, with the s4u NetZone API.
#include "cluster/platform/platform.hpp"

#include <stdexcept>

#include <fmt/format.h>
#include <simgrid/s4u/Link.hpp>
#include <simgrid/s4u/NetZone.hpp>

namespace tf {

PlatformHandles build_platform(simgrid::s4u::Engine& e, const Topology& topo, const GpuSpec& gpu,
                               const std::function<void()>& poll) {
  namespace s4u = simgrid::s4u;
  using NetPoint = simgrid::kernel::routing::NetPoint;
  if (gpu.fp16_flops <= 0.0) throw std::invalid_argument("build_platform: GPU '" + gpu.name + "' has no FP16 speed");

  // A Dijkstra zone with the route cache: routes are given per edge and found on demand, so the
  // platform grows with the number of links, not with the square of the number of GPUs.
  // The first zone created without a parent becomes the Engine's root zone.
  s4u::NetZone* zone = s4u::create_dijkstra_zone("tokenfleet", true);
  if (e.get_netzone_root() != zone)
    throw std::logic_error("build_platform: the Engine already has a platform (call build_platform once)");

  const auto& g = topo.graph;
  const std::size_t n_vertices = boost::num_vertices(g);
  std::vector<NetPoint*> points(n_vertices, nullptr);
  std::vector<s4u::Host*> hosts(n_vertices, nullptr);

  for (std::size_t v = 0; v < n_vertices; ++v) {
    if (poll && v % 1024 == 0) poll();
    const TopologyVertex& vx = g[v];
    if (vx.kind == VertexKind::gpu) {
      s4u::Host* h = zone->create_host(vx.name, gpu.fp16_flops);
      h->set_core_count(1);
      h->seal();
      hosts[v] = h;
      points[v] = h->get_netpoint();
    } else {
      points[v] = zone->create_router(vx.name);
    }
  }

  auto [ei, ei_end] = boost::edges(g);
  for (std::size_t k = 0; ei != ei_end; ++ei, ++k) {
    if (poll && k % 1024 == 0) poll();
    const TopologyEdge& ed = g[*ei];
    s4u::Link* link = zone->create_link(ed.name, ed.bandwidth_Bps);
    link->set_latency(ed.latency_s);
    link->seal();
    const auto a = boost::source(*ei, g);
    const auto b = boost::target(*ei, g);
    zone->add_route(points[a], points[b], nullptr, nullptr, {s4u::LinkInRoute(link)}, true);
  }
  if (poll) poll();
  zone->seal();
  if (poll) poll();

  PlatformHandles handles;
  handles.gpus.reserve(topo.gpus.size());
  for (auto v : topo.gpus) handles.gpus.push_back(hosts[v]);
  return handles;
}

}  // namespace tf

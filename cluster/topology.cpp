// The datacenter as a Boost.Graph: gpu-i -- nvswitch-<node> (NVLink) and nvswitch-<node> -- core (network).
#include "cluster/topology.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/visitors.hpp>

namespace tf {

Topology build_topology(const TopologySpec& spec) {
  if (spec.gpus < 1)
    throw std::invalid_argument("topology: gpus must be at least 1 (got " + std::to_string(spec.gpus) + ")");
  if (spec.gpus_per_node < 1)
    throw std::invalid_argument("topology: gpus_per_node must be at least 1 (got " +
                                std::to_string(spec.gpus_per_node) + ")");
  Topology topo;
  topo.gpus_per_node = spec.gpus_per_node;
  topo.nodes = (spec.gpus + spec.gpus_per_node - 1) / spec.gpus_per_node;
  auto& g = topo.graph;

  const auto core = boost::add_vertex(TopologyVertex{"core", VertexKind::core_switch, -1}, g);
  std::vector<TopologyGraph::vertex_descriptor> switches;
  switches.reserve(static_cast<std::size_t>(topo.nodes));
  for (int n = 0; n < topo.nodes; ++n) {
    const auto sw = boost::add_vertex(TopologyVertex{"nvswitch-" + std::to_string(n), VertexKind::nvswitch, n}, g);
    switches.push_back(sw);
    boost::add_edge(sw, core, TopologyEdge{"net-" + std::to_string(n), spec.network_Bps, spec.network_latency_s}, g);
  }
  topo.gpus.reserve(static_cast<std::size_t>(spec.gpus));
  for (int i = 0; i < spec.gpus; ++i) {
    const int node = i / spec.gpus_per_node;
    const auto v = boost::add_vertex(TopologyVertex{"gpu-" + std::to_string(i), VertexKind::gpu, node}, g);
    topo.gpus.push_back(v);
    boost::add_edge(v, switches[static_cast<std::size_t>(node)],
                    TopologyEdge{"nvlink-" + std::to_string(i), spec.nvlink_Bps, spec.nvlink_latency_s}, g);
  }
  return topo;
}

std::vector<std::vector<int>> layout_replicas(int replicas, int tensor_parallel, int gpus_per_node) {
  return layout_replicas(replicas, tensor_parallel, 1, gpus_per_node);
}

std::vector<std::vector<int>> layout_replicas(int replicas, int tensor_parallel, int pipeline_parallel,
                                              int gpus_per_node) {
  if (tensor_parallel < 1 || gpus_per_node < 1 || tensor_parallel > gpus_per_node ||
      gpus_per_node % tensor_parallel != 0)
    throw std::invalid_argument("tensor_parallel (" + std::to_string(tensor_parallel) +
                                ") must divide gpus_per_node (" + std::to_string(gpus_per_node) + ")");
  if (pipeline_parallel < 1)
    throw std::invalid_argument("pipeline_parallel must be at least 1 (got " + std::to_string(pipeline_parallel) + ")");
  const int g = tensor_parallel * pipeline_parallel;
  if (g <= gpus_per_node ? gpus_per_node % g != 0 : g % gpus_per_node != 0)
    throw std::invalid_argument("a replica of " + std::to_string(tensor_parallel) + " x " +
                                std::to_string(pipeline_parallel) + " GPUs must divide a node of " +
                                std::to_string(gpus_per_node) + " GPUs or take whole nodes");
  if (replicas < 0) throw std::invalid_argument("replicas must not be negative (got " + std::to_string(replicas) + ")");
  // Either several replicas share a node (g divides it) or a replica takes g / gpus_per_node whole nodes: in both
  // cases replica r holds GPUs [r g, (r + 1) g), stage s the t of them from r g + s t.
  std::vector<std::vector<int>> layout;
  layout.reserve(static_cast<std::size_t>(replicas));
  for (int r = 0; r < replicas; ++r) {
    const int first = r * g;
    std::vector<int> gpus(static_cast<std::size_t>(g));
    for (int k = 0; k < g; ++k) gpus[static_cast<std::size_t>(k)] = first + k;
    layout.push_back(std::move(gpus));
  }
  return layout;
}

std::vector<std::string> route_links(const Topology& topo, int gpu_a, int gpu_b) {
  const int n = static_cast<int>(topo.gpus.size());
  if (gpu_a < 0 || gpu_a >= n || gpu_b < 0 || gpu_b >= n)
    throw std::out_of_range("route_links: GPU index out of range (" + std::to_string(gpu_a) + ", " +
                            std::to_string(gpu_b) + "; " + std::to_string(n) + " GPUs)");
  const auto& g = topo.graph;
  const auto src = topo.gpus[static_cast<std::size_t>(gpu_a)];
  const auto dst = topo.gpus[static_cast<std::size_t>(gpu_b)];
  if (src == dst) return {};

  // Every link counts as one hop: breadth-first search gives a shortest path; record each vertex's tree edge.
  using Edge = TopologyGraph::edge_descriptor;
  std::vector<Edge> parent_edge(boost::num_vertices(g));
  std::vector<bool> reached(boost::num_vertices(g), false);
  reached[src] = true;
  struct Recorder : boost::default_bfs_visitor {
    std::vector<Edge>* parent;
    std::vector<bool>* seen;
    void tree_edge(Edge e, const TopologyGraph& gr) const {
      const auto t = boost::target(e, gr);
      (*parent)[t] = e;
      (*seen)[t] = true;
    }
  };
  Recorder rec;
  rec.parent = &parent_edge;
  rec.seen = &reached;
  boost::breadth_first_search(g, src, boost::visitor(rec));
  if (!reached[dst]) return {};

  std::vector<std::string> links;
  for (auto v = dst; v != src;) {
    const Edge e = parent_edge[v];
    links.push_back(g[e].name);
    v = boost::source(e, g) == v ? boost::target(e, g) : boost::source(e, g);
  }
  std::reverse(links.begin(), links.end());
  return links;
}

}  // namespace tf

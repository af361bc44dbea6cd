#pragma once
// The datacenter as a graph (Boost.Graph): GPUs in nodes, an NVLink switch per node, a network
// between nodes through one core switch. Plain C++; cluster/platform.hpp turns it into SimGrid.
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>

namespace tf {

struct TopologySpec {
  int gpus = 8;                       // total GPUs
  int gpus_per_node = 8;
  double nvlink_Bps = 900e9;          // per GPU, to its node's NVLink switch
  double nvlink_latency_s = 1e-6;
  double network_Bps = 50e9;          // per node, to the core switch (400 Gb/s)
  double network_latency_s = 5e-6;
};

enum class VertexKind { gpu, nvswitch, core_switch };

struct TopologyVertex {
  std::string name;
  VertexKind kind = VertexKind::gpu;
  int node = -1;  // node index for GPUs and NVLink switches
};

struct TopologyEdge {
  std::string name;
  double bandwidth_Bps = 0.0;
  double latency_s = 0.0;
};

using TopologyGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, TopologyVertex, TopologyEdge>;

struct Topology {
  TopologyGraph graph;
  std::vector<TopologyGraph::vertex_descriptor> gpus;  // in order gpu-0 .. gpu-(n-1)
  int nodes = 0;
  int gpus_per_node = 8;
};

Topology build_topology(const TopologySpec& spec);

// Replica r takes `tensor_parallel` consecutive GPUs of one node; a node holds
// floor(gpus_per_node / tensor_parallel) replicas. Returns, per replica, the GPU indices.
// Throws std::invalid_argument when tensor_parallel does not divide into a node.
std::vector<std::vector<int>> layout_replicas(int replicas, int tensor_parallel, int gpus_per_node);
// With pipeline stages: replica r takes tensor_parallel x pipeline_parallel consecutive GPUs, stage s the
// tensor_parallel of them from s x tensor_parallel; several replicas share a node when the product divides
// gpus_per_node, else each takes product / gpus_per_node whole successive nodes (the product must be a multiple).
std::vector<std::vector<int>> layout_replicas(int replicas, int tensor_parallel, int pipeline_parallel,
                                              int gpus_per_node);

// The GPU names on a shortest path's ends and the link names in between, for tests.
std::vector<std::string> route_links(const Topology& topo, int gpu_a, int gpu_b);

}  // namespace tf

// The topology graph, the replica layout, routes, and the SimGrid platform built from them.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include "cluster/catalog.hpp"
#include "cluster/platform/platform.hpp"
#include "cluster/topology.hpp"

using Catch::Matchers::Contains;

namespace {

tf::TopologySpec spec_for(int gpus, int gpus_per_node) {
  tf::TopologySpec s;
  s.gpus = gpus;
  s.gpus_per_node = gpus_per_node;
  return s;
}

int count_kind(const tf::Topology& t, tf::VertexKind k) {
  int n = 0;
  auto [vi, vend] = boost::vertices(t.graph);
  for (; vi != vend; ++vi) n += t.graph[*vi].kind == k ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("topology of 20 GPUs in nodes of 8", "[topology]") {
  const auto topo = tf::build_topology(spec_for(20, 8));
  CHECK(topo.nodes == 3);
  CHECK(topo.gpus_per_node == 8);
  REQUIRE(topo.gpus.size() == 20);
  // 20 GPUs + 3 NVLink switches + 1 core switch; 20 NVLink edges + 3 network edges.
  CHECK(boost::num_vertices(topo.graph) == 24);
  CHECK(boost::num_edges(topo.graph) == 23);
  CHECK(count_kind(topo, tf::VertexKind::gpu) == 20);
  CHECK(count_kind(topo, tf::VertexKind::nvswitch) == 3);
  CHECK(count_kind(topo, tf::VertexKind::core_switch) == 1);
  for (int i = 0; i < 20; ++i) {
    const auto& v = topo.graph[topo.gpus[static_cast<std::size_t>(i)]];
    CHECK(v.name == "gpu-" + std::to_string(i));
    CHECK(v.kind == tf::VertexKind::gpu);
    CHECK(v.node == i / 8);
  }
  const tf::TopologySpec defaults;
  auto [ei, eend] = boost::edges(topo.graph);
  int nvlinks = 0;
  for (; ei != eend; ++ei) {
    const auto& e = topo.graph[*ei];
    if (e.name.rfind("nvlink-", 0) == 0) {
      ++nvlinks;
      CHECK(e.bandwidth_Bps == defaults.nvlink_Bps);
      CHECK(e.latency_s == defaults.nvlink_latency_s);
    } else {
      CHECK(e.name.rfind("net-", 0) == 0);
      CHECK(e.bandwidth_Bps == defaults.network_Bps);
      CHECK(e.latency_s == defaults.network_latency_s);
    }
  }
  CHECK(nvlinks == 20);
}

TEST_CASE("replicas of tensor parallel 4 sit two to a node", "[topology]") {
  const auto layout = tf::layout_replicas(5, 4, 8);
  const std::vector<std::vector<int>> expected = {
      {0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9, 10, 11}, {12, 13, 14, 15}, {16, 17, 18, 19}};
  CHECK(layout == expected);
  CHECK(tf::layout_replicas(3, 1, 8) == std::vector<std::vector<int>>{{0}, {1}, {2}});
  CHECK(tf::layout_replicas(2, 8, 8) ==
        std::vector<std::vector<int>>{{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9, 10, 11, 12, 13, 14, 15}});
  CHECK(tf::layout_replicas(0, 2, 8).empty());
}

TEST_CASE("tensor parallel that does not divide a node is refused", "[topology]") {
  CHECK_THROWS_AS(tf::layout_replicas(2, 3, 8), std::invalid_argument);
  CHECK_THROWS_WITH(tf::layout_replicas(2, 3, 8), Contains("tensor_parallel (3) must divide gpus_per_node (8)"));
  CHECK_THROWS_AS(tf::layout_replicas(1, 0, 8), std::invalid_argument);
  CHECK_THROWS_AS(tf::layout_replicas(1, 16, 8), std::invalid_argument);
}

TEST_CASE("routes between GPUs", "[topology]") {
  const auto topo = tf::build_topology(spec_for(20, 8));
  CHECK(tf::route_links(topo, 0, 1) == std::vector<std::string>{"nvlink-0", "nvlink-1"});
  CHECK(tf::route_links(topo, 0, 9) == std::vector<std::string>{"nvlink-0", "net-0", "net-1", "nvlink-9"});
  CHECK(tf::route_links(topo, 19, 2) == std::vector<std::string>{"nvlink-19", "net-2", "net-0", "nvlink-2"});
  CHECK(tf::route_links(topo, 5, 5).empty());
  CHECK_THROWS_AS(tf::route_links(topo, 0, 20), std::out_of_range);
}

// Runs a simulation: needs a process of its own (one Engine per process).
TEST_CASE("SimGrid platform: compute time and transfer time", "[topology][simgrid]") {
  xbt_log_control_set("root.thres:critical");
  int argc = 1;
  char arg0[] = "test_topology";
  char* argv[] = {arg0, nullptr};
  simgrid::s4u::Engine engine(&argc, argv);
  // With cross-traffic on (the default), the acknowledgements of a transfer share its (shared, not split-duplex)
  // links and take about 5 % of their bandwidth; turned off, a transfer sees latency + size / (0.97 x bandwidth)
  // under SimGrid's default LV08 network model (latency x 13.01, bandwidth x 0.97).
  simgrid::s4u::Engine::set_config("network/crosstraffic:0");

  const tf::GpuSpec gpu = *tf::find_gpu("h100-sxm");
  tf::TopologySpec spec = spec_for(16, 8);
  spec.nvlink_Bps = gpu.nvlink_Bps;
  const auto topo = tf::build_topology(spec);
  const auto handles = tf::build_platform(engine, topo, gpu);
  REQUIRE(handles.gpus.size() == 16);
  for (int i = 0; i < 16; ++i) {
    CHECK(handles.gpus[static_cast<std::size_t>(i)]->get_name() == "gpu-" + std::to_string(i));
    CHECK(handles.gpus[static_cast<std::size_t>(i)]->get_speed() == gpu.fp16_flops);
  }
  CHECK(engine.get_host_count() == 16);

  double exec_end = -1.0;
  double comm_end = -1.0;
  static int payload = 42;
  int received = 0;
  simgrid::s4u::Actor::create("compute", handles.gpus[0], [&] {
    simgrid::s4u::this_actor::execute(gpu.fp16_flops);  // 1 s at the FP16 peak
    exec_end = simgrid::s4u::Engine::get_clock();
  });
  simgrid::s4u::Actor::create("sender", handles.gpus[0], [] {
    simgrid::s4u::Mailbox::by_name("to-gpu-9")->put(&payload, 1e9);
  });
  simgrid::s4u::Actor::create("receiver", handles.gpus[9], [&] {
    received = *simgrid::s4u::Mailbox::by_name("to-gpu-9")->get<int>();
    comm_end = simgrid::s4u::Engine::get_clock();
  });
  engine.run();

  CHECK(received == 42);
  CHECK(exec_end == Approx(1.0).epsilon(1e-6));
  // gpu-0 -> gpu-9: nvlink-0, net-0, net-1, nvlink-9; the network link (50 GB/s) is the bottleneck.
  const double latency = 2 * spec.nvlink_latency_s + 2 * spec.network_latency_s;
  const double expected_comm = latency + 1e9 / spec.network_Bps;
  CHECK(comm_end == Approx(expected_comm).epsilon(0.10));

  const double t_end = simgrid::s4u::Engine::get_clock();
  CHECK(t_end == Approx(std::max(exec_end, comm_end)));
  INFO("exec_end " << exec_end << " comm_end " << comm_end);
}

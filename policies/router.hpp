#pragma once
// Routers decide which replica gets an arriving request. Plain data, no SimGrid.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workloads/request.hpp"

namespace tf {

// A replica as the router sees it when a request arrives.
struct ReplicaLoad {
  int running_requests = 0;
  std::size_t waiting_requests = 0;
  bool idle = true;      // no batch running and nothing waiting
  // Filled in for routers with a central queue only:
  bool has_room = false;          // would admit the head of the central queue at its next boundary
  double next_boundary_s = 0.0;   // when its next iteration boundary falls
};

class Router {
 public:
  virtual ~Router() = default;
  virtual std::string name() const = 0;
  // True for a router that keeps one FIFO of its own: replicas take work from it when they have room.
  virtual bool central_queue() const { return false; }
  // Without a central queue: the replica the request goes to.
  // With a central queue: the replica to wake up for the head of the queue (an idle one, else the one with
  // room whose next iteration boundary comes first, which takes the head there), or -1 when no replica
  // has room (the next one to finish a request takes it).
  virtual int route(const Request& request, const std::vector<ReplicaLoad>& replicas) = 0;
};

// Round-robin: request i goes to replica i mod N.
class RoundRobinRouter final : public Router {
 public:
  std::string name() const override { return "round-robin"; }
  int route(const Request& request, const std::vector<ReplicaLoad>& replicas) override;

 private:
  std::size_t next_ = 0;
};

// One FIFO at the router; a replica takes work when it has room, at its next iteration boundary. The head
// goes to the replica that can take it first: an idle one (lowest index), else the one with room whose
// boundary comes first (ties: lowest index). This is what replicas polling the queue at every iteration
// would do, without waking them all.
class CentralQueueRouter final : public Router {
 public:
  std::string name() const override { return "central-queue"; }
  bool central_queue() const override { return true; }
  int route(const Request& request, const std::vector<ReplicaLoad>& replicas) override;
};

// Registry: the router of that name, or nullptr when unknown.
std::unique_ptr<Router> make_router(const std::string& name);
std::vector<std::string> router_names();

}  // namespace tf

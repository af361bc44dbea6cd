#pragma once
// Queue-order policies: the order in which waiting requests are offered to a replica's batching policy (which admits
// from the head of its queue). They keep each queue (a replica's own, or the central one) in their order as requests
// join it. A request preempted by its replica goes back to the head of that replica's queue whatever the order (as
// vLLM does), so that preemption never costs it its place. Plain data, no SimGrid.
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "workloads/request.hpp"

namespace tf {

class QueueOrder {
 public:
  virtual ~QueueOrder() = default;
  virtual std::string name() const = 0;
  // Whether `a` is served before `b` (a strict weak order); requests neither before the other keep the order in
  // which they joined.
  virtual bool before(const Request& a, const Request& b) const = 0;
  // Puts a request into a queue kept in this order: behind every request it is not before. Costs the number of
  // requests it overtakes.
  virtual void insert(std::deque<Request>& queue, Request r) const;
};

// First come, first served: the order of arrival (what every engine does by default). policies/queue_order_fifo.cpp.
class FifoOrder final : public QueueOrder {
 public:
  std::string name() const override { return "fifo"; }
  bool before(const Request&, const Request&) const override { return false; }
  void insert(std::deque<Request>& queue, Request r) const override { queue.push_back(std::move(r)); }
};

// Shortest prompt first: fewer prompt tokens first (ties: arrival order). Lowers mean time to first token under
// load, and can starve long prompts while shorter ones keep coming. policies/queue_order_fifo.cpp.
class ShortestPromptFirstOrder final : public QueueOrder {
 public:
  std::string name() const override { return "shortest-prompt-first"; }
  bool before(const Request& a, const Request& b) const override { return a.prompt_tokens < b.prompt_tokens; }
};

// Priority classes: a lower Request::priority first (0 is the most urgent), arrival order within a class (vLLM's
// priority scheduling). policies/queue_order_fifo.cpp.
class PriorityOrder final : public QueueOrder {
 public:
  std::string name() const override { return "priority"; }
  bool before(const Request& a, const Request& b) const override { return a.priority < b.priority; }
};

// The queue order of that name, or nullptr when unknown.
std::unique_ptr<QueueOrder> make_queue_order(const std::string& name);
std::vector<std::string> queue_order_names();

}  // namespace tf

#pragma once
// Where the engine hands each request's record: once when it arrives (in id order: 0, 1, 2, ...) and once when it
// ends (served or turned away; in any order). Plain C++, no SimGrid. A sink that keeps them all (RecordVector) is
// what RunResult::records holds; a streaming sink writes and summarizes them as they come, in flat memory.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "results/records.hpp"

namespace tf {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // A request arrived: its record as of its arrival (not admitted, no token). Called in id order.
  virtual void arrived(const RequestRecord& r) = 0;
  // A request ended (finished, or rejected by admission control): its final record. Called once per arrived
  // request that ends; requests still unfinished when the run stops are never passed here.
  virtual void ended(const RequestRecord& r) = 0;
};

// Keeps every record in id order: the arrival record, replaced by the final one when the request ends.
class RecordVector final : public RecordSink {
 public:
  void arrived(const RequestRecord& r) override { records.push_back(r); }
  void ended(const RequestRecord& r) override {
    if (r.id < records.size() && records[r.id].id == r.id) {  // ids 0, 1, 2, ...: the usual case
      records[r.id] = r;
      return;
    }
    // A pod's share of the ids (sim/study/pods.hpp): in order, with gaps.
    const auto it = std::lower_bound(records.begin(), records.end(), r.id,
                                     [](const RequestRecord& a, std::uint64_t id) { return a.id < id; });
    if (it != records.end() && it->id == r.id) *it = r;
  }
  std::vector<RequestRecord> records;
};

}  // namespace tf

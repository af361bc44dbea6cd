#pragma once
// The one conversion of a request's lifecycle (workloads/request.hpp) into its output row (results/records.hpp).
#include "results/records.hpp"
#include "workloads/request.hpp"

namespace tf {

inline RequestRecord to_record(const Request& r) {
  RequestRecord row;
  row.id = r.id;
  row.arrival_s = r.arrival_s;
  row.prompt_tokens = r.prompt_tokens;
  row.output_tokens = r.output_tokens;
  row.replica = r.replica;
  row.admitted_s = r.admitted_s;
  row.first_token_s = r.first_token_s;
  row.finished_s = r.finished_s;
  row.rejected = r.rejected;
  row.prefill_replica = r.prefill_replica;
  row.kv_transfer_s = r.kv_transfer_s;
  row.priority = r.priority;
  row.cached_tokens = r.cached_tokens;
  row.retries = r.retries;
  row.failed = r.failed;
  return row;
}

}  // namespace tf

// [workload.trace]: a trace file replayed (arrivals and lengths from its rows).
#include "sim/scenario/loader.hpp"

#include <fmt/format.h>

#include <climits>
#include <limits>

#include "workloads/trace.hpp"

namespace tf::loader {

void read_trace(const Section& tr, TraceSpec& t, std::vector<std::string>& notes) {
  t.enabled = true;
  if (!tr.has("path")) tr.fail("path", "missing: the trace file to replay");
  t.path = tr.loader().resolve_path(tr.key("path"), *tr.string("path"));
  t.format = tr.string("format").value_or("");
  if (!t.format.empty() && t.format != "auto" && t.format != "azure" && t.format != "mooncake" && t.format != "csv")
    tr.fail("format", fmt::format("expected \"azure\", \"mooncake\", \"csv\" or \"auto\", got \"{}\"", t.format));
  // Bounded so that the trace's times over the speed stay within the span a run simulates.
  t.speed = tr.number_in("speed", 1.0, Section::Range{1e-6, 1e6, true, true});
  // Bounded: each row gives up to floor(scale) + 1 copies. Past 9.2e18 the count overflowed its integer and the
  // replay silently sent nothing; a million copies of every row is already beyond any run.
  t.rate_scale = tr.number_in("rate_scale", 1.0, Section::Range{0.0, 1e6, false, true});
  t.jitter_s = tr.number_in("jitter_s", 1.0, Section::at_least(0));
  t.loop = tr.boolean("loop").value_or(false);
  t.window_start_s = tr.number_in("window_start_s", 0.0, Section::at_least(0));
  t.window_end_s = tr.number_in("window_end_s", std::numeric_limits<double>::infinity(),
                                Section::greater_than(t.window_start_s));
  t.skip_bad_rows = tr.boolean("skip_bad_rows").value_or(false);
  t.max_prompt_tokens = tr.integer_in("max_prompt_tokens", 0, 0, INT64_MAX);
  t.max_output_tokens = tr.integer_in("max_output_tokens", 0, 0, INT64_MAX);
  // Check that the file opens and its first row reads (the rest is read while simulating). A trace with no row
  // (empty, a header alone, or every row skipped as bad) would replay nothing and look like a run that went well.
  bool any_row = false;
  try {
    TraceReader reader(t.path, t.format, t.skip_bad_rows);
    TraceRow row;
    any_row = reader.next(row);
    if (reader.rebased_from_s() > 0.0)
      notes.push_back(fmt::format(
          "{}: the first row's arrival_s ({:.3f}) is Unix epoch seconds, so the trace's times are taken from it: "
          "that row arrives at 0 s and the others after it as recorded (see workload.trace in scenarios/README.md)",
          t.path, reader.rebased_from_s()));
  } catch (const std::runtime_error& e) {
    tr.fail("path", e.what());
  }
  if (!any_row)
    tr.fail("path", fmt::format("{} holds no request to replay (empty, a header alone{}); give a trace with rows",
                                t.path, t.skip_bad_rows ? ", or every row skipped as bad" : ""));
}

}  // namespace tf::loader

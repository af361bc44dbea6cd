#pragma once
// Trace readers: stream a request trace row by row (never the whole file in memory).
//
//   azure:    CSV with header TIMESTAMP,ContextTokens,GeneratedTokens; TIMESTAMP "YYYY-MM-DD HH:MM:SS[.fffffff]"
//             (Azure LLM inference traces, 2023). Times are offsets from the first row's timestamp.
//   mooncake: JSON lines with timestamp (milliseconds), input_length, output_length, hash_ids (Mooncake traces).
//             Times are offsets from the first row's timestamp; hash_ids are kept.
//   csv:      plain CSV arrival_s,prompt_tokens,output_tokens[,hash_ids] (what `tokenfleet workload --export`
//             writes); the header is optional; times are taken as they are (no offset), hash_ids space-separated,
//             except that when the first row's arrival_s is Unix epoch seconds (at least kEpochSecondsFrom), times
//             become offsets from the first row (rebased_from_s() says from what).
// A UTF-8 byte-order mark at the start of the file is skipped in every format. A row more than kMaxTraceOffsetS
// after the first (the time origin) is an error: a run simulates at most that span (sim/scenario/limits.hpp).
// Both CSV formats are read by io/csv.hpp's reader (RFC 4180: quoted fields, CRLF line ends); spaces around a
// field are ignored.
//
// Bad rows (not a number, negative or zero lengths, missing or extra columns, timestamps out of order, bad JSON)
// throw TraceError naming the file, line and field, or, with skip_bad_rows, are skipped and counted (the first
// kBadRowExamples of them kept as their errors' text, for `validate` to show).
// Blank lines are ignored.
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "io/csv.hpp"

namespace tf {

class TraceError : public std::runtime_error {
 public:
  TraceError(const std::string& file, std::uint64_t line, const std::string& field, const std::string& what);
  std::uint64_t line() const { return line_; }

 private:
  std::uint64_t line_;
};

// The longest span of trace replayed: a row later than this after the time origin is refused (about 31.7 years,
// limits::kMaxDurationS).
inline constexpr double kMaxTraceOffsetS = 1e9;
// How many of the skipped rows' errors a reader keeps (bad_row_examples()).
inline constexpr std::size_t kBadRowExamples = 5;
// A plain CSV whose first arrival_s is at least this (2001-09-09 as Unix time) holds epoch seconds: rebased.
inline constexpr double kEpochSecondsFrom = 1e9;

struct TraceRow {
  double time_s = 0.0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 0;
  std::vector<std::int64_t> hash_ids;
  std::uint64_t line = 0;
};

// "azure", "mooncake", "csv"; "" or "auto": from the file (.jsonl is mooncake; a CSV by its header).
// Throws TraceError when the file cannot be read or its format not recognised.
std::string detect_trace_format(const std::string& path, const std::string& format);

class TraceReader {
 public:
  TraceReader(std::string path, const std::string& format, bool skip_bad_rows);
  // The next good row; false at the end of the file.
  bool next(TraceRow& row);
  // Back to the first row (for looping); keeps the time origin and the counts.
  void rewind();
  std::uint64_t skipped_rows() const { return skipped_; }
  // The errors of the first kBadRowExamples rows skipped ("file:line: field: what"), in file order.
  const std::vector<std::string>& bad_row_examples() const { return bad_examples_; }
  std::uint64_t rows_read() const { return good_; }
  const std::string& format() const { return format_; }
  const std::string& path() const { return path_; }
  // A plain CSV of Unix epoch seconds: the first row's arrival_s, which times are offsets from; 0 otherwise.
  double rebased_from_s() const { return rebased_from_s_; }

 private:
  // The next non-blank record (CSV formats: its fields in cells_) or line (mooncake: line_); false at the end.
  // Throws TraceError for a malformed CSV record.
  bool read_record();
  bool parse(TraceRow& row);  // throws TraceError on a bad row
  bool parse_azure(TraceRow& row);
  bool parse_mooncake(TraceRow& row);
  bool parse_plain(TraceRow& row);

  enum class Kind { azure, mooncake, csv };
  std::string path_, format_;
  Kind kind_;
  bool skip_bad_;
  std::ifstream in_;
  CsvReader csv_{in_};
  std::vector<std::string_view> cells_;
  std::vector<std::string> bad_examples_;
  std::string line_;
  std::uint64_t lineno_ = 0, skipped_ = 0, good_ = 0;
  bool have_origin_ = false;
  std::int64_t origin_s_ = 0;        // azure: first timestamp, whole seconds since 1970 and nanoseconds
  std::int64_t origin_frac_ns_ = 0;
  double origin_ms_ = 0.0;           // mooncake
  double rebased_from_s_ = 0.0;      // csv of epoch seconds
  double last_time_s_ = -1e300;      // for the order check (this pass)
  bool first_pass_ = true;
};

// Parses "YYYY-MM-DD HH:MM:SS[.fraction]" to whole seconds since 1970-01-01 (UTC, no leap seconds) and the
// fraction's nanoseconds; any year 0000-9999.
bool parse_timestamp(const std::string& text, std::int64_t& seconds, std::int64_t& frac_ns);
// The same as nanoseconds since 1970; false also when that is outside int64 (before 1677 or after 2262).
bool parse_timestamp_ns(const std::string& text, std::int64_t& ns);

}  // namespace tf

// Trace readers, one row at a time.
#include "workloads/trace.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <cmath>
#include <string_view>

namespace tf {

namespace {

std::string compose(const std::string& file, std::uint64_t line, const std::string& field, const std::string& what) {
  std::string s = file;
  if (line > 0) s += fmt::format(":{}", line);
  s += ": ";
  if (!field.empty()) s += field + ": ";
  return s + what;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

bool parse_int(std::string_view s, std::int64_t& v) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_double(std::string_view s, double& v) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(v);
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

const char* kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens";
const char* kBom = "\xEF\xBB\xBF";  // a UTF-8 byte-order mark

}  // namespace

TraceError::TraceError(const std::string& file, std::uint64_t line, const std::string& field, const std::string& what)
    : std::runtime_error(compose(file, line, field, what)), line_(line) {}

bool parse_timestamp(const std::string& text, std::int64_t& seconds, std::int64_t& frac_ns) {
  const std::string_view s = trim(text);
  // YYYY-MM-DD HH:MM:SS[.f...]
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':')
    return false;
  std::int64_t y, mo, d, h, mi, se;
  if (!parse_int(s.substr(0, 4), y) || !parse_int(s.substr(5, 2), mo) || !parse_int(s.substr(8, 2), d) ||
      !parse_int(s.substr(11, 2), h) || !parse_int(s.substr(14, 2), mi) || !parse_int(s.substr(17, 2), se))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || h < 0 || mi < 0 || se < 0) return false;
  frac_ns = 0;
  if (s.size() > 19) {
    if (s[19] != '.' || s.size() == 20 || s.size() > 29) return false;
    std::int64_t scale = 100000000;
    for (std::size_t i = 20; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  seconds = days * 86400 + h * 3600 + mi * 60 + se;  // |seconds| < 4e11 for any four-digit year
  return true;
}

bool parse_timestamp_ns(const std::string& text, std::int64_t& ns) {
  std::int64_t seconds = 0, frac_ns = 0;
  if (!parse_timestamp(text, seconds, frac_ns)) return false;
  constexpr std::int64_t kMaxSeconds = INT64_MAX / 1000000000LL - 1;
  if (seconds > kMaxSeconds || seconds < -kMaxSeconds) return false;
  ns = seconds * 1000000000LL + frac_ns;
  return true;
}

std::string detect_trace_format(const std::string& path, const std::string& format) {
  if (!format.empty() && format != "auto") {
    if (format != "azure" && format != "mooncake" && format != "csv")
      throw TraceError(path, 0, "format", fmt::format("expected azure, mooncake, csv or auto, got '{}'", format));
    return format;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TraceError(path, 0, "", "cannot open trace file");
  const auto dot = path.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot);
  if (ext == ".jsonl" || ext == ".json") return "mooncake";
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 3, kBom) == 0) line.erase(0, 3);
    if (!trim(line).empty()) break;
  }
  const std::string_view first = trim(line);
  if (first.rfind("TIMESTAMP", 0) == 0) return "azure";
  if (!first.empty() && first.front() == '{') return "mooncake";
  return "csv";
}

TraceReader::TraceReader(std::string path, const std::string& format, bool skip_bad_rows)
    : path_(std::move(path)),
      format_(detect_trace_format(path_, format)),
      kind_(format_ == "azure" ? Kind::azure : format_ == "mooncake" ? Kind::mooncake : Kind::csv),
      skip_bad_(skip_bad_rows) {
  in_.open(path_, std::ios::binary);
  if (!in_) throw TraceError(path_, 0, "", "cannot open trace file");
}

void TraceReader::rewind() {
  csv_.rewind();  // seeks in_ back to the start
  lineno_ = 0;
  last_time_s_ = -1e300;
  first_pass_ = false;
}

bool TraceReader::read_record() {
  if (kind_ == Kind::mooncake) {
    while (std::getline(in_, line_)) {
      ++lineno_;
      if (lineno_ == 1 && line_.compare(0, 3, kBom) == 0) line_.erase(0, 3);
      if (!trim(line_).empty()) return true;
    }
    return false;
  }
  for (;;) {
    bool got = false;
    try {
      got = csv_.next(cells_);
    } catch (const CsvError& e) {
      lineno_ = e.line();
      throw TraceError(path_, e.line(), "", fmt::format("column {}: {}", e.column(), e.reason()));
    }
    if (!got) return false;
    lineno_ = csv_.line();
    if (cells_.size() == 1 && trim(cells_[0]).empty()) continue;  // a blank line
    for (auto& c : cells_)
      if (!c.empty() && (is_blank(c.front()) || is_blank(c.back()))) c = trim(c);
    return true;
  }
}

bool TraceReader::next(TraceRow& row) {
  for (;;) {
    try {
      if (!read_record()) break;
      if (parse(row)) {
        row.line = lineno_;
        if (row.time_s > kMaxTraceOffsetS)
          throw TraceError(path_, lineno_, kind_ == Kind::csv ? "arrival_s" : "timestamp",
                           fmt::format("{:.0f} s after {}, more than the 1e9 s (about 31.7 years) a run "
                                       "replays; cut the trace or check its times",
                                       row.time_s, kind_ == Kind::csv && rebased_from_s_ == 0.0
                                                       ? "time 0"
                                                       : "the first row, which times count from"));
        if (row.time_s < last_time_s_)
          throw TraceError(path_, lineno_, kind_ == Kind::csv ? "arrival_s" : "timestamp",
                           fmt::format("timestamps out of order: {} s is before the previous row's {} s", row.time_s,
                                       last_time_s_));
        last_time_s_ = row.time_s;
        if (first_pass_) ++good_;
        return true;
      }
    } catch (const TraceError& e) {
      if (!skip_bad_) throw;
      if (first_pass_) {
        ++skipped_;
        if (bad_examples_.size() < kBadRowExamples) bad_examples_.emplace_back(e.what());
      }
    }
  }
  if (in_.bad()) throw TraceError(path_, lineno_, "", "read error");
  return false;
}

bool TraceReader::parse(TraceRow& row) {
  switch (kind_) {
    case Kind::azure: return parse_azure(row);
    case Kind::mooncake: return parse_mooncake(row);
    case Kind::csv: break;
  }
  return parse_plain(row);
}

namespace {

void length_field(const std::string& path, std::uint64_t lineno, const char* name, std::string_view cell,
                  std::int64_t& out) {
  if (!parse_int(cell, out))
    throw TraceError(path, lineno, name, fmt::format("expected a positive integer, got '{}'", cell));
  if (out <= 0) throw TraceError(path, lineno, name, fmt::format("expected a positive integer, got {}", out));
}

}  // namespace

bool TraceReader::parse_azure(TraceRow& row) {
  const auto& cells = cells_;
  const std::size_t n = cells.size();
  if (lineno_ == 1) {
    if (n != 3 || cells[0] != "TIMESTAMP" || cells[1] != "ContextTokens" || cells[2] != "GeneratedTokens")
      throw TraceError(path_, lineno_, "",
                       fmt::format("expected the header {}, got '{}'", kAzureHeader, trim(csv_.text())));
    return false;
  }
  if (n != 3)
    throw TraceError(path_, lineno_, "", fmt::format("expected 3 columns ({}), got {}", kAzureHeader, n > 3 ? "more" : std::to_string(n)));
  std::int64_t seconds = 0, frac_ns = 0;
  if (!parse_timestamp(std::string(cells[0]), seconds, frac_ns))
    throw TraceError(path_, lineno_, "TIMESTAMP",
                     fmt::format("expected a time 'YYYY-MM-DD HH:MM:SS.fffffff', got '{}'", cells[0]));
  length_field(path_, lineno_, "ContextTokens", cells[1], row.prompt_tokens);
  length_field(path_, lineno_, "GeneratedTokens", cells[2], row.output_tokens);
  if (!have_origin_) {
    have_origin_ = true;
    origin_s_ = seconds;
    origin_frac_ns_ = frac_ns;
  }
  // Whole seconds and nanoseconds apart: no overflow whatever the years (int64 nanoseconds end in 2262).
  row.time_s = static_cast<double>(seconds - origin_s_) + static_cast<double>(frac_ns - origin_frac_ns_) * 1e-9;
  row.hash_ids.clear();
  return true;
}

bool TraceReader::parse_mooncake(TraceRow& row) {
  const auto j = nlohmann::json::parse(line_, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw TraceError(path_, lineno_, "", "expected a JSON object on one line (timestamp, input_length, output_length, hash_ids)");
  auto number = [&](const char* key) -> const nlohmann::json& {
    const auto it = j.find(key);
    if (it == j.end()) throw TraceError(path_, lineno_, key, "missing");
    if (!it->is_number()) throw TraceError(path_, lineno_, key, fmt::format("expected a number, got {}", it->dump()));
    return *it;
  };
  const auto& ts = number("timestamp");
  const double ms = ts.get<double>();
  if (!std::isfinite(ms) || ms < 0.0) throw TraceError(path_, lineno_, "timestamp", fmt::format("expected a non-negative number, got {}", ts.dump()));
  for (const char* key : {"input_length", "output_length"}) {
    const auto& v = number(key);
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0)
      throw TraceError(path_, lineno_, key, fmt::format("expected a positive integer, got {}", v.dump()));
  }
  row.prompt_tokens = j["input_length"].get<std::int64_t>();
  row.output_tokens = j["output_length"].get<std::int64_t>();
  row.hash_ids.clear();
  if (const auto it = j.find("hash_ids"); it != j.end()) {
    if (!it->is_array()) throw TraceError(path_, lineno_, "hash_ids", "expected an array of integers");
    row.hash_ids.reserve(it->size());
    for (const auto& h : *it) {
      if (!h.is_number_integer()) throw TraceError(path_, lineno_, "hash_ids", fmt::format("expected integers, got {}", h.dump()));
      row.hash_ids.push_back(h.get<std::int64_t>());
    }
  }
  if (!have_origin_) {
    have_origin_ = true;
    origin_ms_ = ms;
  }
  row.time_s = (ms - origin_ms_) / 1000.0;
  return true;
}

bool TraceReader::parse_plain(TraceRow& row) {
  const auto& cells = cells_;
  const std::size_t n = cells.size();
  if (lineno_ == 1 && n >= 1 && cells[0] == "arrival_s") {
    if (n < 3 || n > 4 || cells[1] != "prompt_tokens" || cells[2] != "output_tokens" || (n == 4 && cells[3] != "hash_ids"))
      throw TraceError(path_, lineno_, "",
                       fmt::format("expected the header arrival_s,prompt_tokens,output_tokens[,hash_ids], got '{}'",
                                   trim(csv_.text())));
    return false;
  }
  if (n < 3 || n > 4)
    throw TraceError(path_, lineno_, "",
                     fmt::format("expected 3 columns (arrival_s,prompt_tokens,output_tokens) or 4 (with hash_ids), got {}",
                                 n > 4 ? "more" : std::to_string(n)));
  if (!parse_double(cells[0], row.time_s))
    throw TraceError(path_, lineno_, "arrival_s", fmt::format("expected a number of seconds, got '{}'", cells[0]));
  if (row.time_s < 0.0)
    throw TraceError(path_, lineno_, "arrival_s", fmt::format("expected a non-negative number, got {}", row.time_s));
  // Unix epoch seconds (the first row after 2001-09-09): times from the first row, as the other formats do.
  if (!have_origin_) {
    have_origin_ = true;
    if (row.time_s >= kEpochSecondsFrom) rebased_from_s_ = row.time_s;
  }
  row.time_s -= rebased_from_s_;
  length_field(path_, lineno_, "prompt_tokens", cells[1], row.prompt_tokens);
  length_field(path_, lineno_, "output_tokens", cells[2], row.output_tokens);
  row.hash_ids.clear();
  if (n == 4) {
    std::string_view ids = cells[3];
    while (!ids.empty()) {
      const auto sp = ids.find(' ');
      const std::string_view one = ids.substr(0, sp);
      if (!one.empty()) {
        std::int64_t v;
        if (!parse_int(one, v))
          throw TraceError(path_, lineno_, "hash_ids", fmt::format("expected integers separated by spaces, got '{}'", one));
        row.hash_ids.push_back(v);
      }
      if (sp == std::string_view::npos) break;
      ids.remove_prefix(sp + 1);
    }
  }
  return true;
}

}  // namespace tf

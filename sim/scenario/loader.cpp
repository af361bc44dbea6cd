// The scenario loader's TOML core: toml++ in, then the --set overrides applied to the parsed table, the walk over
// every table that finds unknown keys (recording the line of every key on the way), and the typed getters
// (sim/scenario/loader.hpp) whose errors name the file, the line and the dotted key (ScenarioError). Each section
// is then read by its own file (loader.hpp lists them). Every key is documented in scenarios/README.md.
#include "sim/scenario/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <toml++/toml.h>

namespace tf {

namespace {

std::string compose(const std::string& file, int line, const std::string& key, const std::string& what) {
  std::string s = file;
  if (line > 0) s += fmt::format(":{}", line);
  s += ": ";
  if (!key.empty()) s += key + ": ";
  return s + what;
}

// The first byte of a malformed UTF-8 sequence (a stray continuation byte, a truncated sequence, an overlong form,
// a surrogate or a code point past U+10FFFF), or npos when `s` is well-formed.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if ((b & 0xE0) == 0xC0) n = 1, cp = b & 0x1F, min = 0x80;
    else if ((b & 0xF0) == 0xE0) n = 2, cp = b & 0x0F, min = 0x800;
    else if ((b & 0xF8) == 0xF0) n = 3, cp = b & 0x07, min = 0x10000;
    else return i;
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

// The first byte outside a string and a comment that is not ASCII (TOML allows other characters only in strings
// and comments), or npos. A small scanner of TOML's four string forms and its comments, so that toml++ is handed
// only text whose non-ASCII characters sit where its parser copies them without classifying them.
std::size_t non_ascii_outside_strings(std::string_view s) {
  enum class In { code, comment, basic, literal, ml_basic, ml_literal } in = In::code;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto starts = [&](const char* what) { return s.substr(i, std::char_traits<char>::length(what)) == what; };
    switch (in) {
      case In::code:
        if (static_cast<unsigned char>(c) >= 0x80) return i;
        if (c == '#') in = In::comment;
        else if (starts("\"\"\"")) in = In::ml_basic, i += 2;
        else if (starts("'''")) in = In::ml_literal, i += 2;
        else if (c == '"') in = In::basic;
        else if (c == '\'') in = In::literal;
        break;
      case In::comment:
        if (c == '\n') in = In::code;
        break;
      case In::basic:
        if (c == '\\') ++i;
        else if (c == '"' || c == '\n') in = In::code;
        break;
      case In::literal:
        if (c == '\'' || c == '\n') in = In::code;
        break;
      case In::ml_basic:
        if (c == '\\') ++i;
        else if (starts("\"\"\"")) in = In::code, i += 2;
        break;
      case In::ml_literal:
        if (starts("'''")) in = In::code, i += 2;
        break;
    }
  }
  return std::string_view::npos;
}

// Bytes of the UTF-8 sequence that starts with `lead` (well-formed text).
std::size_t utf8_length(char lead) {
  const auto b = static_cast<unsigned char>(lead);
  return b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
}

int line_at(std::string_view s, std::size_t offset) {
  return 1 + static_cast<int>(std::count(s.begin(), s.begin() + static_cast<long>(std::min(offset, s.size())), '\n'));
}

// The bytes at `offset` in hex: `count` of them, at most those left.
std::string bytes_at(std::string_view s, std::size_t offset, std::size_t count = 2) {
  std::string hex;
  for (std::size_t k = offset; k < std::min(s.size(), offset + count); ++k)
    hex += fmt::format("{}{:02X}", hex.empty() ? "" : " ", static_cast<unsigned char>(s[k]));
  return hex;
}

}  // namespace

ScenarioError::ScenarioError(std::string file, int line, std::string key, const std::string& what)
    : std::runtime_error(compose(file, line, key, what)), file_(std::move(file)), line_(line), key_(std::move(key)) {}

namespace loader {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

// Known keys of the table at `path`, or nothing when `path` is not a table of the schema.
const std::vector<std::string>* known_keys(const std::string& path) {
  static const std::map<std::string, std::vector<std::string>> schema = {
      {"", kTopKeys},
      {"model", with({"name"}, kModelShapeKeys)},
      {"hardware", {"gpu", "tensor_parallel", "pipeline_parallel", "expert_parallel", "micro_batches", "dtype", "gpus_per_node", "network_gbps", "network_latency_us"}},
      {"hardware.gpu", with({"name"}, kGpuFigureKeys)},
      {"fleet.pool[]", {"name", "gpu", "tensor_parallel", "pipeline_parallel", "expert_parallel", "micro_batches", "dtype",
                        "gpus_per_node", "replicas", "gpu_share", "flops_share", "arrival_share"}},
      {"fleet.pool[].gpu", with({"name"}, kGpuFigureKeys)},
      {"fleet", {"replicas", "pods", "replicas_per_pod", "pool"}},
      {"workload", {"arrival", "prompt_tokens", "output_tokens", "session", "demand", "trace", "priority_shares",
                    "over_context", "system_prompt_tokens"}},
      {"workload.arrival", kArrivalKeys},
      {"workload.arrival.burst", {"multiple", "mean_burst_s", "mean_normal_s"}},
      {"workload.prompt_tokens", kDistributionKeys},
      {"workload.output_tokens", kDistributionKeys},
      {"workload.session", {"questions", "think_time_s", "carry_context"}},
      {"workload.session.questions", kDistributionKeys},
      {"workload.session.think_time_s", kDistributionKeys},
      {"workload.demand",
       {"visits_per_day", "visits_per_year", "qa_per_visit", "question_tokens", "answer_tokens", "tokens_per_qa"}},
      {"workload.trace", kTraceKeys},
      {"policy", policy_keys()},
      {"slo", {"ttft_p99_s", "tpot_p99_s"}},
      {"failures", {"gpu_mtbf_h", "node_mtbf_h", "gpu_repair_s", "node_repair_s", "inject", "max_retries"}},
      {"autoscaler", autoscaler_keys()},
      {"failures.gpu_repair_s", kDistributionKeys},
      {"failures.node_repair_s", kDistributionKeys},
      {"cost",
       {"engine", "profile", "mfu", "gemm_half_m", "fp8_efficiency", "mbu", "attention_prefill_efficiency",
        "attention_decode_efficiency", "allreduce_bus_efficiency", "allreduce_latency_us", "overhead_ms",
        "per_request_overhead_us", "per_prefill_overhead_us", "kv_reserve_fraction", "attention_flops",
        "formula_utilization"}},
  };
  // An element of an array of tables ("fleet.pool[2]") has the keys of its array's "fleet.pool[]".
  std::string schema_path;
  for (std::size_t i = 0; i < path.size(); ++i) {
    schema_path += path[i];
    if (path[i] == '[') {
      while (i + 1 < path.size() && path[i + 1] != ']') ++i;
    }
  }
  auto it = schema.find(schema_path);
  return it == schema.end() ? nullptr : &it->second;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string dotted(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string parent_of(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return fmt::format("a string (\"{}\")", n.as_string()->get());
    case toml::node_type::integer: return fmt::format("an integer ({})", n.as_integer()->get());
    case toml::node_type::floating_point: return fmt::format("a floating-point number ({})", n.as_floating_point()->get());
    case toml::node_type::boolean: return fmt::format("a boolean ({})", n.as_boolean()->get());
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// --- overrides --------------------------------------------------------------------------------

void Loader::apply_overrides(const std::vector<std::string>& overrides) {
  for (const std::string& item : overrides) {
    const auto eq = item.find('=');
    std::vector<std::string> parts;
    if (eq != std::string::npos) {
      std::string_view keys(item.data(), eq);
      std::size_t start = 0;
      while (true) {
        const auto dot = keys.find('.', start);
        parts.push_back(trim(keys.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
      }
    }
    if (eq == std::string::npos || std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); }))
      throw ScenarioError("--set", 0, trim(item.substr(0, eq == std::string::npos ? item.size() : eq)),
                          fmt::format("expected key=value with a dotted key, such as fleet.replicas=12; got '{}'", item));
    const std::string text = item.substr(eq + 1);

    // The value as TOML (12, 7.5, true, "str", {a = 1}); else the text itself as a bare string.
    // Checked as a file's text is (load_scenario_text): well-formed UTF-8, and toml++ never sees a non-ASCII
    // character outside a string (such a value is taken as a bare string).
    if (const auto at = invalid_utf8_at(text); at != std::string_view::npos)
      throw ScenarioError("--set", 0, trim(item.substr(0, eq)),
                          fmt::format("the value is not valid UTF-8 (bytes {} at byte offset {} of the value)",
                                      bytes_at(text, at), at));
    const std::string as_line = "x = " + text;
    toml::table parsed;
    bool as_toml = false;
    if (non_ascii_outside_strings(as_line) == std::string_view::npos) {
      try {
        parsed = toml::parse(std::string_view(as_line), std::string_view("--set"));
        as_toml = parsed.size() == 1 && parsed.get("x") != nullptr;
      } catch (const toml::parse_error&) {
      }
    }
    if (!as_toml) {
      parsed = toml::table{};
      parsed.insert_or_assign("x", trim(text));
    }

    toml::table* cur = &root_;
    std::string path;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      path = dotted(path, parts[i]);
      toml::node* n = cur->get(parts[i]);
      if (!n) {
        cur->insert_or_assign(parts[i], toml::table{});
        overridden_.insert(path);
        n = cur->get(parts[i]);
      }
      if (!n->is_table())
        throw ScenarioError("--set", 0, dotted(path, join({parts.begin() + static_cast<long>(i) + 1, parts.end()}, ".")),
                            fmt::format("cannot set a key inside '{}', which is {}, not a table", path, describe(*n)));
      cur = n->as_table();
    }
    const std::string& last = parts.back();
    parsed.get("x")->visit([&](auto& value) { cur->insert_or_assign(last, value); });
    overridden_.insert(dotted(path, last));
  }
}

// --- unknown keys -----------------------------------------------------------------------------

void Loader::walk(const toml::table& t, const std::string& path) {
  const std::vector<std::string>& known = *known_keys(path);
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    const std::string full = dotted(path, key);
    int line = static_cast<int>(k.source().begin.line);
    if (line <= 0) line = static_cast<int>(v.source().begin.line);
    lines_[full] = line;
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string best;
      std::size_t best_d = 3;
      for (const auto& cand : known) {
        const std::size_t d = edit_distance(key, cand);
        if (d < best_d) best_d = d, best = cand;
      }
      std::string msg = fmt::format("unknown key '{}'", key);
      if (!best.empty()) {
        msg += fmt::format("; did you mean '{}'?", best);
      } else {
        // The right key in the wrong table?
        std::string elsewhere;
        for (const std::string table : {"", "model", "hardware", "hardware.gpu", "fleet", "workload",
                                         "workload.arrival", "workload.prompt_tokens", "policy", "slo", "cost"}) {
          const auto& ks = *known_keys(table);
          if (table != path && std::find(ks.begin(), ks.end(), key) != ks.end()) {
            elsewhere = table;
            break;
          }
        }
        if (!elsewhere.empty() || (path != "" && std::find(kTopKeys.begin(), kTopKeys.end(), key) != kTopKeys.end()))
          msg += elsewhere.empty() ? "; did you mean the top-level key?"
                                   : fmt::format("; did you mean '{}.{}'?", elsewhere, key);
        else
          msg += fmt::format("; known keys{}: {}", path.empty() ? " at the top level" : " in [" + path + "]",
                             join(known));
      }
      unknown_.push_back({is_overridden(full) ? INT_MAX : line, full, msg});
      continue;
    }
    if (v.is_table() && known_keys(full)) walk(*v.as_table(), full);
    if (v.is_array() && known_keys(full + "[]")) {  // an array of tables ([[fleet.pool]]): each element
      std::size_t i = 0;
      for (const toml::node& e : *v.as_array()) {
        const std::string element = fmt::format("{}[{}]", full, i++);
        lines_[element] = static_cast<int>(e.source().begin.line);
        if (e.is_table()) walk(*e.as_table(), element);
      }
    }
  }
}

void Loader::check_unknown_keys() {
  walk(root_, "");
  if (unknown_.empty()) return;
  // The first in the file; overrides after the file's keys.
  const auto first = std::min_element(unknown_.begin(), unknown_.end(), [](const Unknown& a, const Unknown& b) {
    return a.line != b.line ? a.line < b.line : a.path < b.path;
  });
  fail(first->path, first->message);
}

std::string Loader::resolve_path(const std::string& key, const std::string& path) const {
  namespace fs = std::filesystem;
  if (path.empty()) fail(key, "expected a file path, got an empty string");
  const fs::path p(path);
  std::string resolved = path;
  if (!(p.is_absolute() || is_overridden(key) || file_.empty() || file_.front() == '<')) {
    const fs::path dir = fs::path(file_).parent_path();
    if (!dir.empty()) resolved = (dir / p).string();
  }
  // A device or a pipe (/dev/zero, /dev/stdin) would be read for ever: only regular files (a missing one is the
  // reader's error, with its name).
  std::error_code ec;
  const auto st = fs::status(resolved, ec);
  if (!ec && fs::exists(st) && !fs::is_regular_file(st))
    fail(key, fmt::format("'{}' is not a regular file (a folder, device or pipe); give a file", resolved));
  return resolved;
}

}  // namespace loader

Scenario load_scenario_text(const std::string& toml_text, const std::string& source_name,
                            const std::vector<std::string>& overrides) {
  // A UTF-8 byte-order mark (some editors write one) is skipped. The text must be UTF-8, and outside its strings
  // and comments ASCII, before toml++ sees it: its parser is not safe on every malformed input.
  std::string_view text(toml_text);
  std::size_t bom = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(bom = 3);
  if (const auto at = invalid_utf8_at(text); at != std::string_view::npos)
    throw ScenarioError(source_name, line_at(text, at), "",
                        fmt::format("byte offset {}: not valid UTF-8 (bytes {}); save the file as UTF-8",
                                    at + bom, bytes_at(text, at)));
  if (const auto at = non_ascii_outside_strings(text); at != std::string_view::npos)
    throw ScenarioError(source_name, line_at(text, at), "",
                        fmt::format("byte offset {}: a non-ASCII character (bytes {}) outside a string or a comment; "
                                    "TOML keys and values other than strings are ASCII (put text in quotes)",
                                    at + bom, bytes_at(text, at, utf8_length(text[at]))));
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    throw ScenarioError(source_name, static_cast<int>(e.source().begin.line), "",
                        fmt::format("TOML syntax error: {}", e.description()));
  }
  loader::Loader loader(source_name, std::move(root));
  loader.apply_overrides(overrides);
  loader.check_unknown_keys();
  return loader.build();
}

Scenario load_scenario_file(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ScenarioError(path, 0, "", "cannot open file (it is a directory)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ScenarioError(path, 0, "", "cannot open file");
  std::stringstream ss;
  ss << in.rdbuf();
  return load_scenario_text(ss.str(), path, overrides);
}

}  // namespace tf

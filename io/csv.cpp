#include "io/csv.hpp"

#include <istream>
#include <sstream>

namespace tf {

bool csv_needs_quotes(std::string_view field) {
  for (const char c : field)
    if (c == ',' || c == '"' || c == '\n' || c == '\r') return true;
  return false;
}

void csv_append_quoted(std::string& out, std::string_view field) {
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void csv_append_field(std::string& out, std::string_view field) {
  if (csv_needs_quotes(field))
    csv_append_quoted(out, field);
  else
    out.append(field);
}

CsvError::CsvError(std::uint64_t line, std::uint64_t column, const std::string& reason)
    : std::runtime_error(fmt::format("line {}, column {}: {}", line, column, reason)),
      line_(line),
      column_(column),
      reason_(reason) {}

std::string_view CsvReader::text() const {
  std::string_view t = record_;
  if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
  return t;
}

void CsvReader::rewind() {
  in_->clear();
  in_->seekg(0);
  next_line_ = 1;
  line_ = 0;
}

bool CsvReader::more_line() {
  if (!std::getline(*in_, line_buf_)) return false;
  ++next_line_;
  record_ += '\n';
  record_ += line_buf_;
  return true;
}

bool CsvReader::next(std::vector<std::string_view>& fields) {
  fields.clear();
  if (!std::getline(*in_, record_)) return false;
  line_ = next_line_++;
  // A UTF-8 byte-order mark before the first record (spreadsheets write one) is not part of its first field.
  if (line_ == 1 && record_.compare(0, 3, "\xEF\xBB\xBF") == 0) record_.erase(0, 3);
  // The common case, a record without quoted fields: views straight into the line.
  const char* const data = record_.data();
  const std::size_t n = record_.size();
  std::size_t start = 0;
  for (;;) {
    if (start < n && data[start] == '"') return next_quoted(fields);
    std::size_t i = start;
    while (i < n && data[i] != ',') ++i;
    if (i == n) {
      const std::size_t end = n > start && data[n - 1] == '\r' ? n - 1 : n;
      fields.emplace_back(data + start, end - start);
      return true;
    }
    fields.emplace_back(data + start, i - start);
    start = i + 1;
  }
}

bool CsvReader::next_quoted(std::vector<std::string_view>& fields) {
  fields.clear();
  spans_.clear();
  unquoted_.clear();
  std::uint64_t line = line_;  // the physical line being read
  std::size_t line_start = 0;  // where it starts in record_
  std::size_t pos = 0;
  constexpr auto npos = std::string::npos;
  for (;;) {  // one field per turn
    if (pos < record_.size() && record_[pos] == '"') {
      const std::uint64_t open_line = line;
      const std::size_t open_column = pos - line_start + 1;
      const std::size_t start = ++pos;
      const std::size_t unquoted_start = unquoted_.size();
      bool doubled = false;  // holds a doubled quote: its text goes to unquoted_
      for (;;) {
        const std::size_t q = record_.find('"', pos);
        if (q == npos) {  // a line end inside the quotes: the field goes on on the next line
          const std::size_t end = record_.size();
          if (!more_line())
            throw CsvError(open_line, open_column, "a quoted field is not closed before the end of the input");
          ++line;
          line_start = end + 1;
          continue;
        }
        if (q + 1 < record_.size() && record_[q + 1] == '"') {  // "" stands for one quote
          doubled = true;
          unquoted_.append(record_, pos, q + 1 - pos);
          pos = q + 2;
          continue;
        }
        if (doubled) {
          unquoted_.append(record_, pos, q - pos);
          spans_.push_back({true, unquoted_start, unquoted_.size() - unquoted_start});
        } else {
          spans_.push_back({false, start, q - start});
        }
        pos = q + 1;
        break;
      }
      if (pos == record_.size() || (record_[pos] == '\r' && pos + 1 == record_.size())) break;
      if (record_[pos] == ',') {
        ++pos;
        continue;
      }
      throw CsvError(line, pos - line_start + 1,
                     fmt::format("expected a comma or the line end after the closing quote of the field that opens at "
                                 "line {}, column {}, got '{}'",
                                 open_line, open_column, record_[pos]));
    }
    const std::size_t comma = record_.find(',', pos);
    if (comma == npos) {
      std::size_t end = record_.size();
      if (end > pos && record_[end - 1] == '\r') --end;
      spans_.push_back({false, pos, end - pos});
      break;
    }
    spans_.push_back({false, pos, comma - pos});
    pos = comma + 1;
  }
  fields.reserve(spans_.size());
  for (const Span& s : spans_)
    fields.emplace_back((s.unquoted_buffer ? unquoted_.data() : record_.data()) + s.offset, s.size);
  return true;
}

std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
  std::istringstream in{std::string(text)};
  CsvReader reader(in);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string_view> fields;
  while (reader.next(fields)) rows.emplace_back(fields.begin(), fields.end());
  return rows;
}

}  // namespace tf

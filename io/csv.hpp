#pragma once
// CSV as RFC 4180 has it, written and read in one place: every CSV file tokenfleet writes (requests.csv,
// timeseries.csv, probes.csv, compare.csv, `workload --export`) and every one it reads (traces, the report's
// inputs) goes through here.
//
// Writing: a field holding a comma, a double quote, CR or LF is put in double quotes, its quotes doubled; any
// other field is written as it is (numbers keep exactly the text their format gives). Rows end with LF.
// Reading: quoted fields (with commas, doubled quotes and line ends inside), CRLF or LF line ends; an unquoted
// field is taken as it stands (spaces kept; a quote inside it is an ordinary character). A quoted field that is
// not closed, or is followed by anything but a comma or the line end, throws CsvError with its line and column.
// Plain C++ (fmt for formatting): io/ depends on nothing else of ours.
#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "io/fixed.hpp"

namespace tf {

// Whether a field must be quoted: it holds a comma, a double quote, CR or LF.
bool csv_needs_quotes(std::string_view field);

// Appends `field` to `out`, quoted when it needs to be.
void csv_append_field(std::string& out, std::string_view field);
// Appends `field` to `out` in double quotes whatever it holds, its quotes doubled.
void csv_append_quoted(std::string& out, std::string_view field);

// Appends rows to a string. Fields are separated by commas; end_row() ends the row.
//
//   std::string text;
//   CsvWriter w(text);
//   w.row({"id", "name"});
//   w.integer(7).field("a, b").end_row();        // 7,"a, b"
//   w.format("{:.9f}", 0.5).empty().end_row();   // 0.500000000,
class CsvWriter {
 public:
  explicit CsvWriter(std::string& out) : out_(out) {}

  // A text field, quoted when it needs to be.
  CsvWriter& field(std::string_view text) {
    separator();
    csv_append_field(out_, text);
    return *this;
  }
  // A text field always in quotes (for a column that has always been written quoted).
  CsvWriter& quoted(std::string_view text) {
    separator();
    csv_append_quoted(out_, text);
    return *this;
  }
  // An empty field.
  CsvWriter& empty() {
    separator();
    return *this;
  }
  // An integer field (never needs quotes).
  template <class T>
  CsvWriter& integer(T value) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>, "integer() takes an integer");
    separator();
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    out_.append(digits, end);
    return *this;
  }
  // A number with 9 digits after the point: the bytes of format("{:.9f}", x), faster (io/fixed.hpp).
  CsvWriter& fixed9(double value) {
    separator();
    append_fixed9(out_, value);
    return *this;
  }
  // A field formatted by fmt (e.g. format("{:.9f}", x)), quoted when the text needs it.
  template <class... Args>
  CsvWriter& format(fmt::format_string<Args...> spec, Args&&... args) {
    separator();
    scratch_.clear();
    fmt::format_to(fmt::appender(scratch_), spec, std::forward<Args>(args)...);
    const std::string_view text(scratch_.data(), scratch_.size());
    if (csv_needs_quotes(text))
      csv_append_quoted(out_, text);
    else
      out_.append(text);
    return *this;
  }
  // A whole row of text fields, ended.
  CsvWriter& row(std::initializer_list<std::string_view> fields) {
    for (const auto f : fields) field(f);
    return end_row();
  }
  CsvWriter& end_row() {
    out_ += '\n';
    first_ = true;
    return *this;
  }

 private:
  void separator() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string& out_;
  fmt::memory_buffer scratch_;  // a formatted field before it goes out
  bool first_ = true;
};

class CsvError : public std::runtime_error {
 public:
  CsvError(std::uint64_t line, std::uint64_t column, const std::string& reason);
  std::uint64_t line() const { return line_; }
  std::uint64_t column() const { return column_; }
  // What is wrong, without the position ("line L, column C: " + reason is what()).
  const std::string& reason() const { return reason_; }

 private:
  std::uint64_t line_, column_;
  std::string reason_;
};

// Reads records one at a time from a stream (never the whole input in memory).
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(&in) {}

  // The next record's fields, as views valid until the next call; false at the end of the input. An empty line
  // is a record of one empty field. Throws CsvError for a malformed quoted field; reading then goes on with the
  // line after the bad record.
  bool next(std::vector<std::string_view>& fields);

  // The line (1-based) the record read last starts on.
  std::uint64_t line() const { return line_; }
  // That record's text as it stands in the input, without its line end.
  std::string_view text() const;

  // Back to the start of the input (the stream must be seekable); lines count from 1 again.
  void rewind();

 private:
  struct Span {
    bool unquoted_buffer;  // in unquoted_ (a field whose doubled quotes were undone), else in record_
    std::size_t offset, size;
  };
  bool next_quoted(std::vector<std::string_view>& fields);  // next()'s record again, with its quoted fields
  bool more_line();  // appends the next physical line to record_ (with the LF between); false at the end

  std::istream* in_;
  std::string record_;      // the record's text (its lines, LF between them; CRs kept)
  std::string line_buf_;
  std::string unquoted_;    // contents of quoted fields with doubled quotes, undone
  std::vector<Span> spans_;
  std::uint64_t next_line_ = 1, line_ = 0;
};

// All records of a text. Throws CsvError.
std::vector<std::vector<std::string>> parse_csv(std::string_view text);

}  // namespace tf

// io/csv.hpp: RFC 4180 quoting on the way out, and the reader on the way back.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "io/csv.hpp"

using Catch::Matchers::Contains;

namespace {

using Rows = std::vector<std::vector<std::string>>;

}  // namespace

TEST_CASE("csv: fields that need quotes are quoted and the others are written as they are", "[csv]") {
  std::string out;
  tf::CsvWriter w(out);
  w.field("plain").field("a,b").field("say \"hi\"").field("two\nlines").field("cr\r").field("").field("  lead");
  w.end_row();
  CHECK(out == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",,  lead\n");
  out.clear();
  w.integer(-7).integer(std::uint64_t{18446744073709551615u}).format("{:.9f}", 0.25).empty().quoted("").end_row();
  CHECK(out == "-7,18446744073709551615,0.250000000,,\"\"\n");
  out.clear();
  w.format("{}: {}", "x", "y, z").end_row();  // formatted text that holds a comma gets quotes too
  CHECK(out == "\"x: y, z\"\n");
  CHECK_FALSE(tf::csv_needs_quotes("1.5e-3"));
  CHECK(tf::csv_needs_quotes("\""));
}

TEST_CASE("csv: hard fields survive a round trip", "[csv]") {
  const Rows rows = {
      {"comma, inside", "quote \" inside", "\"quoted\"", "line\nbreak", "crlf\r\ninside"},
      {"", "  leading spaces", "trailing spaces  ", "\"\"", ","},
      {"", "", ""},
      {"only"},
  };
  std::string text;
  tf::CsvWriter w(text);
  for (const auto& row : rows) {
    for (const auto& f : row) w.field(f);
    w.end_row();
  }
  CHECK(tf::parse_csv(text) == rows);
}

TEST_CASE("csv: the reader takes CRLF line ends, doubled quotes and line ends inside quotes", "[csv]") {
  std::istringstream in("a,b,c\r\n1,\"x,\"\"y\"\"\",3\r\n\"multi\r\nline\",,\"\"\r\nlast,row\n");
  tf::CsvReader r(in);
  std::vector<std::string_view> f;
  REQUIRE(r.next(f));
  CHECK(r.line() == 1);
  CHECK(f == std::vector<std::string_view>{"a", "b", "c"});
  REQUIRE(r.next(f));
  CHECK(r.line() == 2);
  CHECK(f == std::vector<std::string_view>{"1", "x,\"y\"", "3"});
  CHECK(r.text() == "1,\"x,\"\"y\"\"\",3");
  REQUIRE(r.next(f));
  CHECK(r.line() == 3);
  CHECK(f == std::vector<std::string_view>{"multi\r\nline", "", ""});
  REQUIRE(r.next(f));
  CHECK(r.line() == 5);  // the record before took two lines
  CHECK(f == std::vector<std::string_view>{"last", "row"});
  CHECK_FALSE(r.next(f));
  // An unquoted field is taken as it stands: spaces kept, a quote inside it is a character.
  CHECK(tf::parse_csv(" a , b\"c\n") == Rows{{" a ", " b\"c"}});
  // An empty line is a record of one empty field; the last line needs no line end.
  CHECK(tf::parse_csv("x\n\ny") == Rows{{"x"}, {""}, {"y"}});
  r.rewind();
  REQUIRE(r.next(f));
  CHECK(r.line() == 1);
  CHECK(f.size() == 3);
}

TEST_CASE("csv: a malformed quoted field gives an error naming its line and column", "[csv]") {
  SECTION("text after the closing quote") {
    try {
      tf::parse_csv("a,b\n1,\"ok\"x,3\n");
      FAIL("no error");
    } catch (const tf::CsvError& e) {
      CHECK(e.line() == 2);
      CHECK(e.column() == 7);
      CHECK_THAT(e.what(), Contains("line 2, column 7: ") && Contains("after the closing quote") &&
                               Contains("line 2, column 3") && Contains("got 'x'"));
    }
  }
  SECTION("a quote never closed") {
    try {
      tf::parse_csv("a,b\n1,2\n3,\"open\nand on\n");
      FAIL("no error");
    } catch (const tf::CsvError& e) {
      CHECK(e.line() == 3);
      CHECK(e.column() == 3);
      CHECK_THAT(e.what(), Contains("not closed"));
    }
  }
  SECTION("reading goes on after the bad record") {
    std::istringstream in("\"bad\"x\ngood,1\n");
    tf::CsvReader r(in);
    std::vector<std::string_view> f;
    CHECK_THROWS_AS(r.next(f), tf::CsvError);
    REQUIRE(r.next(f));
    CHECK(r.line() == 2);
    CHECK(f == std::vector<std::string_view>{"good", "1"});
  }
}

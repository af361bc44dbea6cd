#pragma once
// Fixed-point text of a double with 9 digits after the point, the bytes fmt::format("{:.9f}", x) gives, without
// fmt's general formatting (it was a fifth of the instructions of a run writing requests.csv).
//
// The exact value of x (m x 2^e) times 10^9 is computed in 128-bit integers and rounded to the nearest integer;
// a value whose rounding is an exact tie (x an odd multiple of 2^-10 and a few others), a NaN, an infinity or a
// magnitude of 2^33 or more is handed to fmt itself. So the text is fmt's for every double (tests/test_fixed.cpp
// checks millions of random and edge values).
#include <cstddef>
#include <string>

namespace tf {

// The longest text append_fixed9 writes through its fast path: sign, 11 integer digits, point, 9 digits.
inline constexpr std::size_t kFixed9FastMax = 24;

// Writes the text of x into out (at least kFixed9FastMax chars) and returns its length, or 0 when x needs fmt
// (a tie, NaN, infinity, |x| >= 2^33).
std::size_t fixed9_fast(double x, char* out);

// Appends fmt::format("{:.9f}", x)'s text to out.
void append_fixed9(std::string& out, double x);

}  // namespace tf

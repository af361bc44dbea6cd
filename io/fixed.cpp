#include "io/fixed.hpp"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

namespace tf {

namespace {
__extension__ typedef unsigned __int128 u128;  // GCC and Clang
}  // namespace

std::size_t fixed9_fast(double x, char* out) {
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const bool negative = (bits >> 63) != 0;
  const int biased = static_cast<int>((bits >> 52) & 0x7ff);
  const std::uint64_t fraction = bits & ((std::uint64_t{1} << 52) - 1);
  if (biased == 0x7ff) return 0;  // NaN, infinity
  // x = m * 2^e exactly.
  const std::uint64_t m = biased == 0 ? fraction : (fraction | (std::uint64_t{1} << 52));
  const int e = biased == 0 ? -1074 : biased - 1075;
  // |x| < 2^33: e <= -20 for a normal m of 53 bits (m * 2^e < 2^33 needs e < -19 or a smaller m; checked below).
  std::uint64_t n = 0;  // round(|x| * 1e9)
  if (m != 0) {
    if (e >= 0) return 0;
    const unsigned s = static_cast<unsigned>(-e);
    const u128 p = static_cast<u128>(m) * 1000000000u;  // < 2^83
    if (s < 84) {
      const u128 q = p >> s;
      const u128 r = p - (q << s);
      const u128 half = static_cast<u128>(1) << (s - 1);
      if (r == half) return 0;  // an exact tie: fmt's rule
      // |x| < 2^33 means q < 2^33 * 1e9 < 8.6e18 < 2^63.
      if (q >= static_cast<u128>(8589934592ull) * 1000000000u) return 0;
      n = static_cast<std::uint64_t>(q) + (r > half ? 1 : 0);
    }  // else p < 2^83 <= 2^(s-1): |x| * 1e9 < 1/2, rounds to 0
  }
  char* p = out;
  if (negative) *p++ = '-';
  std::uint64_t ip = n / 1000000000u;
  std::uint32_t fp = static_cast<std::uint32_t>(n % 1000000000u);
  char digits[20];
  int k = 0;
  do {
    digits[k++] = static_cast<char>('0' + ip % 10);
    ip /= 10;
  } while (ip != 0);
  while (k > 0) *p++ = digits[--k];
  *p++ = '.';
  for (int i = 8; i >= 0; --i) {
    p[i] = static_cast<char>('0' + fp % 10);
    fp /= 10;
  }
  p += 9;
  return static_cast<std::size_t>(p - out);
}

void append_fixed9(std::string& out, double x) {
  char buf[kFixed9FastMax];
  const std::size_t len = fixed9_fast(x, buf);
  if (len > 0)
    out.append(buf, len);
  else
    fmt::format_to(std::back_inserter(out), "{:.9f}", x);
}

}  // namespace tf

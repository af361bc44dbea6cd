// The offline report (results/report.cpp, `tokenfleet report`, `run --report`, `size --report`), and runs that
// are stopped part-way (Ctrl-C, SIGTERM) and the progress line.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers.hpp"

using namespace tf::test;
namespace fs = std::filesystem;

namespace {

bool have(const std::string& tool) { return run_command("command -v " + tool + " >/dev/null").exit_code == 0; }

// Every src="..." and href="..." of the page (only relative paths expected).
std::vector<std::string> references(const std::string& html) {
  std::vector<std::string> refs;
  const std::regex re(R"re((?:src|href)="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), re); it != std::sregex_iterator(); ++it)
    refs.push_back((*it)[1].str());
  return refs;
}

// The data points a gnuplot script's inline data blocks hold.
std::size_t data_points(const std::string& gp) {
  std::size_t n = 0;
  bool in_block = false;
  std::istringstream in(gp);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("$d", 0) == 0 && line.find("<< EOD") != std::string::npos) in_block = true;
    else if (line == "EOD") in_block = false;
    else if (in_block && !line.empty()) ++n;
  }
  return n;
}

// The longest polyline (number of segments) gnuplot drew inside a plot group of an SVG: data, not axes.
std::size_t longest_data_path(const std::string& svg) {
  std::size_t best = 0;
  std::size_t pos = 0;
  while ((pos = svg.find("<g id=\"gnuplot_plot_", pos)) != std::string::npos) {
    const std::size_t end = svg.find("</g>\n\t</g>", pos);
    const std::string group = svg.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    std::size_t segs = 0;
    for (std::size_t i = 0; (i = group.find(" L", i)) != std::string::npos; ++i) ++segs;
    std::size_t uses = 0;
    for (std::size_t i = 0; (i = group.find("<use ", i)) != std::string::npos; ++i) ++uses;
    best = std::max({best, segs, uses});
    pos += 10;
  }
  return best;
}

// The rectangles gnuplot drew as closed paths (M x,y L x,y L x,y L x,y L x,y Z): the plot's frame, the legend's
// box, bars. As {x0, y0, x1, y1}.
std::vector<std::array<double, 4>> svg_rectangles(const std::string& svg) {
  std::vector<std::array<double, 4>> out;
  const std::regex re(R"re(d='M([-\d.]+),([-\d.]+) L([-\d.]+),([-\d.]+) L([-\d.]+),([-\d.]+) L([-\d.]+),([-\d.]+) L[-\d.]+,[-\d.]+ Z)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    double xs[4], ys[4];
    for (int k = 0; k < 4; ++k) {
      xs[k] = std::stod((*it)[1 + 2 * k].str());
      ys[k] = std::stod((*it)[2 + 2 * k].str());
    }
    out.push_back({*std::min_element(xs, xs + 4), *std::min_element(ys, ys + 4), *std::max_element(xs, xs + 4),
                   *std::max_element(ys, ys + 4)});
  }
  return out;
}

// Where gnuplot anchored each text of an SVG (translate(x,y) of the groups that hold a <text>).
std::vector<std::pair<double, double>> svg_text_anchors(const std::string& svg) {
  std::vector<std::pair<double, double>> out;
  const std::regex re(R"re(<g transform="translate\(([-\d.]+),([-\d.]+)\)"[^>]*>\s*<text)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it)
    out.emplace_back(std::stod((*it)[1].str()), std::stod((*it)[2].str()));
  return out;
}

// A plot a planner reads at a glance (issue 14 item 6): its legend below the plot or none, never at the side where
// it took half the picture; the frame (the largest rectangle) at least 3/4 of the picture's width; every text
// inside the picture; a log axis labelled at three or more ticks inside its range.
void check_readable_plot(const std::string& gp, const std::string& svg) {
  CHECK(gp.find("set key outside") == std::string::npos);
  CHECK(gp.find("right top vertical") == std::string::npos);
  CHECK((gp.find("set key below") != std::string::npos || gp.find("unset key") != std::string::npos));
  std::smatch size;
  REQUIRE(std::regex_search(gp, size, std::regex(R"(set terminal svg size (\d+),(\d+))")));
  const double w = std::stod(size[1].str()), h = std::stod(size[2].str());
  double frame_w = 0, frame_area = 0;
  for (const auto& r : svg_rectangles(svg))
    if ((r[2] - r[0]) * (r[3] - r[1]) > frame_area) {
      frame_area = (r[2] - r[0]) * (r[3] - r[1]);
      frame_w = r[2] - r[0];
    }
  CHECK(frame_w >= 0.75 * w);
  const auto anchors = svg_text_anchors(svg);
  CHECK(!anchors.empty());
  for (const auto& [x, y] : anchors) {
    INFO("text at " << x << "," << y);
    CHECK(x >= 0);
    CHECK(x <= w);
    CHECK(y >= 0);
    CHECK(y <= h);
  }
  for (const char axis : {'x', 'y'}) {
    if (gp.find(std::string("set logscale ") + axis) == std::string::npos) continue;
    INFO("log " << axis << " axis");
    std::smatch tics, range;
    REQUIRE(std::regex_search(gp, tics, std::regex(std::string("set ") + axis + R"(tics \(([^)]*)\))")));
    REQUIRE(std::regex_search(gp, range, std::regex(std::string("set ") + axis + R"(range \[([-\d.e+]+):([-\d.e+]+)\])")));
    const double lo = std::stod(range[1].str()), hi = std::stod(range[2].str());
    CHECK(hi / lo >= 10.0);  // under a decade the axis is linear
    const std::string list = tics[1].str();
    const std::regex tic(R"('[^']*' ([-\d.e+]+))");
    std::size_t inside = 0;
    for (auto it = std::sregex_iterator(list.begin(), list.end(), tic); it != std::sregex_iterator(); ++it) {
      const double v = std::stod((*it)[1].str());
      if (v >= lo && v <= hi) ++inside;
    }
    CHECK(inside >= 3);
  }
}

// Checks a built report folder: the page, its references, its plots.
void check_report(const std::string& dir, std::size_t min_plots, const std::vector<std::string>& must_contain) {
  const std::string html = read_file(dir + "/report.html");
  REQUIRE(!html.empty());
  CHECK(html.find("<title>") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  for (const auto& s : must_contain) {
    INFO(s);
    CHECK(html.find(s) != std::string::npos);
  }
  std::size_t plots = 0;
  for (const auto& ref : references(html)) {
    INFO(ref);
    CHECK(ref.find("://") == std::string::npos);
    CHECK(fs::exists(fs::path(dir) / ref));
    if (ref.size() > 4 && ref.substr(ref.size() - 4) == ".svg") {
      ++plots;
      const std::string svg = read_file(dir + "/" + ref);
      CHECK(svg.find("<script") == std::string::npos);
      CHECK(svg.find("href='http") == std::string::npos);
      CHECK(svg.find("<title>") != std::string::npos);
      // Axis labels and a legend: the script sets both labels and titles every series.
      const std::string gp = read_file(dir + "/" + ref.substr(0, ref.size() - 4) + ".gp");
      CHECK(gp.find("set xlabel ") != std::string::npos);
      CHECK(gp.find("set ylabel '") != std::string::npos);
      CHECK(gp.find("set title '") != std::string::npos);
      CHECK(gp.find(" title '") != std::string::npos);
      CHECK(std::regex_search(gp, std::regex(R"(set [xy]label ['"][^'"]*\([^)]+\))")));  // units in parentheses
      CHECK(data_points(gp) >= 1);
      CHECK(longest_data_path(svg) >= 1);
      check_readable_plot(gp, svg);
    }
  }
  CHECK(plots >= min_plots);
}

// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) into grey levels.
bool decode_png_grey(const std::string& png, std::uint32_t& width, std::uint32_t& height, std::vector<double>& grey) {
  if (png.size() < 8 || png.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return false;
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(png[at])) << 24) | (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(png[at + 2])) << 8) | std::uint32_t(std::uint8_t(png[at + 3]));
  };
  std::string idat;
  int depth = 0, colour = 0, interlace = 0;
  for (std::size_t at = 8; at + 8 <= png.size();) {
    const std::uint32_t len = be32(at);
    const std::string type = png.substr(at + 4, 4);
    if (type == "IHDR") {
      width = be32(at + 8);
      height = be32(at + 12);
      depth = std::uint8_t(png[at + 16]);
      colour = std::uint8_t(png[at + 17]);
      interlace = std::uint8_t(png[at + 20]);
    } else if (type == "IDAT") {
      idat += png.substr(at + 8, len);
    }
    at += 12 + len;
  }
  if (depth != 8 || (colour != 2 && colour != 6) || interlace != 0) return false;
  const std::size_t bpp = colour == 6 ? 4 : 3, stride = width * bpp;
  std::vector<unsigned char> raw((stride + 1) * height);
  uLongf raw_len = raw.size();
  if (uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) != Z_OK) return false;
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  grey.clear();
  for (std::uint32_t y = 0; y < height; ++y) {
    const unsigned char* line = raw.data() + y * (stride + 1);
    const int filter = line[0];
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
      int v = line[1 + x];
      switch (filter) {
        case 1: v += a; break;
        case 2: v += b; break;
        case 3: v += (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          v += (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
          break;
        }
        default: break;
      }
      cur[x] = static_cast<unsigned char>(v & 0xff);
    }
    for (std::size_t x = 0; x < width; ++x)
      grey.push_back((cur[x * bpp] + cur[x * bpp + 1] + cur[x * bpp + 2]) / 3.0);
    prev.swap(cur);
  }
  return true;
}

const std::string kSmall = " --set duration_s=240 --set warmup_s=30";

}  // namespace

TEST_CASE("run --report builds a page whose references exist and whose plots hold data", "[report]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("report");
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_command(binary() + " run -q --report --out " + out + kSmall);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Matchers::Contains("report written to"));
  WARN("run --report of a 240 s scenario took " << wall_s << " s of wall-clock time");
  // Nine plots: load, TTFT, TPOT, CDF, batch, KV, queue, attainment, power; the summary and the scenario.
  check_report(out, 9, {"Summary", "Scenario", "p99", "--set duration_s=240", "plots/load.svg", "plots/cdf.svg",
                        "plots/ttft.svg", "plots/tpot.svg", "plots/kv.svg", "plots/queue.svg", "plots/batch.svg"});
  // The load plot marks the peak; the TTFT plot shows the target.
  CHECK(read_file(out + "/plots/load.gp").find("peak") != std::string::npos);
  CHECK(read_file(out + "/plots/ttft.gp").find("target p99 2000.0 ms") != std::string::npos);

  // `tokenfleet report DIR` rebuilds the same page, byte for byte.
  const std::string first = read_file(out + "/report.html"), load = read_file(out + "/plots/load.svg");
  const auto again = run_command(binary() + " report " + out);
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK(read_file(out + "/report.html") == first);
  CHECK(read_file(out + "/plots/load.svg") == load);
  fs::remove_all(out);
}

TEST_CASE("tokenfleet report refuses a folder without results - and run --report needs --out", "[report]") {
  const std::string empty = temp_dir("report-empty");
  const auto r = run_command(binary() + " report " + empty);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Matchers::Contains("holds no results"));
  CHECK(!fs::exists(empty + "/report.html"));
  const auto missing = run_command(binary() + " report " + empty + "/nope");
  CHECK(missing.exit_code == 2);
  const auto no_out = run_command(binary() + " run --report" + kSmall);
  CHECK(no_out.exit_code == 2);
  CHECK_THAT(no_out.output, Catch::Matchers::Contains("--report needs --out"));
  fs::remove_all(empty);
}

TEST_CASE("size --report plots SLO figures against fleet size with the answer and the estimate", "[report]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("size-report");
  const auto r = run_command(binary() + " size -j 2 --report --out " + out +
                             " --set duration_s=120 --set warmup_s=10 --set workload.arrival.rate_per_s=30");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  check_report(out, 3, {"Fleet size", "analytic estimate", "plots/size-ttft.svg", "plots/size-tpot.svg",
                        "plots/size-attainment.svg", "Scenario"});
  const std::string gp = read_file(out + "/plots/size-ttft.gp");
  // The legend names the marks once (the table gives the numbers); the estimate is a dotted line, or when far off
  // the probes its value at the plot's edge.
  CHECK(gp.find("title 'answer'") != std::string::npos);
  CHECK((gp.find("title 'analytic estimate'") != std::string::npos || gp.find("h100-sxm estimate: ") != std::string::npos));
  fs::remove_all(out);
}

TEST_CASE("the report renders in headless Chromium and the screenshot is not blank", "[report][chromium]") {
  std::string chromium;
  for (const char* c : {"chromium", "chromium-browser", "google-chrome"})
    if (have(c)) {
      chromium = c;
      break;
    }
  if (chromium.empty() || !have("gnuplot")) {
    WARN("skipped: chromium or gnuplot is not installed (apt-get install chromium gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("report-shot");
  REQUIRE(run_command(binary() + " run -q --report --out " + out + kSmall).exit_code == 0);
  const std::string profile = temp_dir("chromium-profile");
  const std::string png = out + "/shot.png";
  const auto shot = run_command(
      "timeout 120 " + chromium +
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --user-data-dir=" + profile + " --screenshot=" + png +
      " --window-size=1400,2000 file://" + fs::absolute(out + "/report.html").string());
  INFO(shot.output);
  REQUIRE(shot.exit_code == 0);
  std::uint32_t w = 0, h = 0;
  std::vector<double> grey;
  REQUIRE(decode_png_grey(read_file(png), w, h, grey));
  CHECK(w == 1400);
  CHECK(h == 2000);
  REQUIRE(grey.size() == static_cast<std::size_t>(w) * h);
  double mean = 0;
  std::size_t dark = 0;
  for (double g : grey) {
    mean += g;
    if (g < 128) ++dark;
  }
  mean /= static_cast<double>(grey.size());
  double var = 0;
  for (double g : grey) var += (g - mean) * (g - mean);
  var /= static_cast<double>(grey.size());
  INFO("mean " << mean << " variance " << var << " dark pixels " << dark);
  CHECK(var > 100.0);                          // not one flat colour
  CHECK(dark > grey.size() / 200);             // text and lines, more than 0.5 % of the page
  CHECK(mean > 128.0);                         // a light page, not an error screen of one colour
  fs::remove_all(out);
  fs::remove_all(profile);
}

namespace {

// Starts the binary with `args` (stdout and stderr to `log`), signals it after `after_s` (and again `again_s` later,
// when not negative), and returns its exit code (1000 + the signal when a signal ended it).
int run_and_signal(const std::vector<std::string>& args, const std::string& log, int sig, double after_s,
                   double again_s = -1) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    (void)f;
    dup2(fileno(stdout), 2);
    std::vector<char*> argv;
    std::string bin = binary();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  // The run prints its scenario once its handlers are in place: wait for that (a loaded machine or a sanitizer
  // build may take seconds to start), then let it run `after_s`.
  for (int i = 0; i < 1200; ++i) {
    std::error_code ec;
    if (fs::file_size(log, ec) > 0 && !ec) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(after_s));
  kill(pid, sig);
  if (again_s >= 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(again_s));
    kill(pid, sig);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("SIGINT and SIGTERM stop a run part-way with a message and no complete-looking summary", "[interrupt]") {
  for (const int sig : {SIGINT, SIGTERM}) {
    const std::string out = temp_dir("interrupt");
    write_file(out + "/summary.json", "{\"from\": \"an earlier run\"}\n");  // must not survive as this run's
    const std::string log = out + "/log.txt";
    // About 4 million requests: far longer than the 1.5 s before the signal.
    const int code = run_and_signal({"run", "--out", out, "--set", "duration_s=4000000"}, log, sig, 1.5);
    const std::string text = read_file(log);
    INFO("signal " << sig << "\n" << text);
    CHECK(code == 128 + sig);
    CHECK_THAT(text, Catch::Matchers::Contains("interrupted"));
    CHECK_THAT(text, Catch::Matchers::Contains("no results written"));
    CHECK(!fs::exists(out + "/summary.json"));
    CHECK(!fs::exists(out + "/requests.csv"));
    CHECK(!fs::exists(out + "/timeseries.csv"));
    for (const auto& e : fs::directory_iterator(out)) {
      INFO(e.path());
      CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
    }
    fs::remove_all(out);
  }
}

TEST_CASE("the same signal twice at once is one interrupt: timeout signals the run and then its process group",
          "[interrupt]") {
  const std::string out = temp_dir("interrupt-twice");
  const std::string log = out + "/log.txt";
  // Back to back (GNU timeout without --foreground): the clean stop, with its message.
  int code = run_and_signal({"run", "--set", "duration_s=4000000"}, log, SIGTERM, 0.5, 0.0);
  std::string text = read_file(log);
  INFO(text);
  CHECK(code == 128 + SIGTERM);
  CHECK_THAT(text, Catch::Matchers::Contains("interrupted (SIGTERM)"));
  // Through GNU timeout itself, which sends SIGTERM to the run and then to its process group.
  const auto r = run_command("timeout -s TERM 2 " + binary() + " run --set duration_s=4000000 --quiet");
  INFO(r.output);
  CHECK(r.exit_code == 124);  // timeout's own code for "timed out"
  CHECK_THAT(r.output, Catch::Matchers::Contains("interrupted (SIGTERM)"));
  fs::remove_all(out);
}

TEST_CASE("the progress line shows on a terminal only and --quiet turns it off", "[progress]") {
  if (!have("script")) {
    WARN("skipped: util-linux's script is not installed");
    return;
  }
  // --foreground everywhere: without it timeout sends SIGINT to the run and then to its whole process group, and a
  // second Ctrl-C stops tokenfleet at once, without its message (as it should for a person pressing it twice).
  // Not a terminal: no progress line even for a long run (stopped after 3 s).
  const auto pipe = run_command("timeout --foreground -s INT 3 " + binary() + " run --set duration_s=4000000");
  INFO(pipe.output);
  CHECK(pipe.output.find("requests done") == std::string::npos);
  CHECK_THAT(pipe.output, Catch::Matchers::Contains("interrupted"));
  // A terminal (script gives the run a pseudo-terminal): the line shows after two seconds (12 s leave room for a
  // sanitizer build's slower set-up).
  const auto tty = run_command("script -qec 'timeout --foreground -s INT 12 " + binary() + " run --set duration_s=4000000' /dev/null");
  INFO(tty.output);
  CHECK_THAT(tty.output, Catch::Matchers::Contains("requests done of"));
  CHECK_THAT(tty.output, Catch::Matchers::Contains("left"));
  const auto quiet = run_command("script -qec 'timeout --foreground -s INT 12 " + binary() +
                                 " run --quiet --set duration_s=4000000' /dev/null");
  INFO(quiet.output);
  CHECK(quiet.output.find("requests done") == std::string::npos);
  CHECK_THAT(quiet.output, Catch::Matchers::Contains("interrupted"));
}

TEST_CASE("a compare.csv gets one bar chart per figure - the compare --report hook", "[report]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("compare-report");
  write_file(out + "/compare.csv",
             "policy,ttft_p99_s,tpot_p99_s,attainment\ncontinuous,0.19,0.014,1.0\nstatic,0.9,0.02,0.97\n");
  const auto r = run_command(binary() + " report " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(out + "/report.html");
  CHECK(html.find("Policies side by side") != std::string::npos);
  CHECK(html.find("<th>static</th>") != std::string::npos);  // a column per policy
  for (const char* f : {"compare-ttft-p99-s", "compare-tpot-p99-s", "compare-attainment"}) {
    INFO(f);
    CHECK(fs::exists(out + "/plots/" + f + ".svg"));
    CHECK(data_points(read_file(out + "/plots/" + f + ".gp")) == 2);
  }
  fs::remove_all(out);
}

TEST_CASE("a compare row whose error holds a comma and quotes is read back by the report intact", "[report][csv]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("compare-error");
  // Swap preemption with the central queue cannot be served: that combination's row carries the engine's error,
  // which quotes "swap" and the router's name and holds commas.
  const auto r = run_command(binary() + " compare --jobs 2 --routers round-robin,central-queue --out " + out +
                             " --set duration_s=60 --set warmup_s=10 --set policy.kv_cache=paged"
                             " --set policy.preemption=swap");
  INFO(r.output);
  REQUIRE(r.exit_code == 3);  // one combination could not be served
  const std::string csv = read_file(out + "/compare.csv");
  const std::string error = "\"swap\" keeps a preempted request's KV in its replica's host memory, but router "
                            "\"central-queue\" may hand it to another replica; use preemption = \"recompute\" or "
                            "another router";
  std::string quoted = "\"";
  for (char c : error) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  quoted += "\"";
  CHECK(csv.find("," + quoted + "\n") != std::string::npos);  // written as RFC 4180 has it
  const auto rep = run_command(binary() + " report " + out);
  INFO(rep.output);
  REQUIRE(rep.exit_code == 0);
  const std::string html = read_file(out + "/report.html");
  std::string escaped;
  for (char c : error) escaped += c == '"' ? std::string("&quot;") : std::string(1, c);
  // The whole text under the table, after the combination's label: nothing split off at its comma or quotes.
  CHECK(html.find("<li>continuous / central-queue: " + escaped + "</li>") != std::string::npos);
  // The table marks the combination not served.
  CHECK(html.find("<tr><td>served</td><td><span class=\"ok\">yes</span></td><td><span class=\"bad\">no</span></td>") !=
        std::string::npos);
  fs::remove_all(out);
}

namespace {

// The y values of a gnuplot script's inline data blocks.
std::vector<double> data_values(const std::string& gp) {
  std::vector<double> out;
  bool in_block = false;
  std::istringstream in(gp);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("$d", 0) == 0 && line.find("<< EOD") != std::string::npos) in_block = true;
    else if (line == "EOD") in_block = false;
    else if (in_block && !line.empty()) {
      std::istringstream fields(line);
      double x = 0, y = 0;
      if (fields >> x >> y) out.push_back(y);
    }
  }
  return out;
}

// The cells of the table that follows `heading` in a page, row by row (tags stripped).
std::vector<std::vector<std::string>> table_after(const std::string& html, const std::string& heading) {
  std::vector<std::vector<std::string>> rows;
  const auto at = html.find(heading);
  if (at == std::string::npos) return rows;
  const auto begin = html.find("<table>", at), end = html.find("</table>", at);
  const std::string table = html.substr(begin, end - begin);
  const std::regex tr("<tr>(.*?)</tr>"), cell("<t[dh][^>]*>(.*?)</t[dh]>"), tag("<[^>]*>");
  for (auto r = std::sregex_iterator(table.begin(), table.end(), tr); r != std::sregex_iterator(); ++r) {
    const std::string row = (*r)[1].str();
    std::vector<std::string> cells;
    for (auto c = std::sregex_iterator(row.begin(), row.end(), cell); c != std::sregex_iterator(); ++c)
      cells.push_back(std::regex_replace((*c)[1].str(), tag, ""));
    rows.push_back(cells);
  }
  return rows;
}

// Significant digits of the longest decimal number in `text` ("12966.136" has 8, "0.0552" 3, "4,981" none).
std::size_t most_significant_digits(const std::string& text) {
  std::size_t most = 0;
  const std::regex num(R"((\d+)\.(\d+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), num); it != std::sregex_iterator(); ++it) {
    std::string digits = (*it)[1].str() + (*it)[2].str();
    digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
    most = std::max(most, digits.size());
  }
  return most;
}

}  // namespace

TEST_CASE("a compare page reads at a glance: names and units, rounded values, percentages, no chart of zeros, log "
          "axes where values span decades, legends that leave the plot its width",
          "[report][readable]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("compare-readable");
  // compare.csv as `tokenfleet compare` writes it: one policy whose queue grew for hours (e2e p99 12966 s, TTFT p99
  // 408 s) beside two that kept up; nothing preempted, swapped or rejected anywhere.
  write_file(out + "/compare.csv",
             "batching,router,ok,requests_per_s,output_tokens_per_s,ttft_p50_s,ttft_p90_s,ttft_p99_s,tpot_p50_s,"
             "tpot_p90_s,tpot_p99_s,e2e_p50_s,e2e_p99_s,slo_attainment,slo_met,mean_batch_size,mfu,busy_fraction,"
             "energy_kwh,preemptions,swapped_out_tokens,rejected,kv_transfer_p99_s,goodput_per_s,"
             "energy_j_per_output_token,prefill_decode,error\n"
             "continuous,round-robin,1,20.000000,4980.561,0.024593752,0.063219087,0.205948521,0.010861975,0.011945839,"
             "0.014195396,2.009997953,12.374268620,1.000000,1,13.7359,0.092806,1.000000,0.055191,0,0,0,,19.990909,"
             "0.362657,,\"\"\n"
             "static,round-robin,1,4.536364,1185.205,186.656708478,318.147792800,408.387556143,0.009500077,"
             "0.009690000,0.009950000,188.350000000,12966.136055463,0.000000,0,2.8500,0.020111,1.000000,0.039900,0,0,"
             "0,,0.000000,1.101000,,\"\"\n"
             "chunked-prefill,round-robin,1,20.000000,4980.597,0.024702794,0.063445915,0.201762976,0.010858802,"
             "0.011900000,0.014100000,2.010000000,12.370000000,0.970000,0,13.7000,0.093000,1.000000,0.055200,0,0,0,,"
             "19.400000,0.363000,,\"\"\n");
  const auto r = run_command(binary() + " report " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(out + "/report.html");
  const auto table = table_after(html, "Policies side by side");
  REQUIRE(table.size() > 10);
  // One column per policy, labelled as a planner names it; human row names, not the CSV's.
  CHECK(table[0] == std::vector<std::string>{"figure", "continuous / round-robin", "static / round-robin",
                                             "chunked-prefill / round-robin"});
  std::map<std::string, std::vector<std::string>> row;
  for (const auto& cells : table) {
    REQUIRE(cells.size() == 4);
    CHECK(cells[0].find('_') == std::string::npos);
    row[cells[0]] = {cells.begin() + 1, cells.end()};
    for (const auto& c : cells) {
      INFO(c);
      CHECK(most_significant_digits(c) <= 4);                                  // 12966.136055463 is not a figure
      CHECK_FALSE(std::regex_search(c, std::regex(R"(\d{5,})")));               // nor 12966136 (ms) or 12966
    }
  }
  CHECK(row["SLO attainment"] == std::vector<std::string>{"100 %", "0 %", "97.0 %"});
  CHECK(row["MFU"] == std::vector<std::string>{"9.3 %", "2.0 %", "9.3 %"});
  CHECK(row["TTFT p99"] == std::vector<std::string>{"206 ms", "408 s", "202 ms"});
  CHECK(row["end to end p99"] == std::vector<std::string>{"12.4 s", "3.6 h", "12.4 s"});
  CHECK(row["end to end p50"] == std::vector<std::string>{"2.01 s", "188 s", "2.01 s"});  // not "2010 ms"
  CHECK(row["output tokens (tokens/s)"] == std::vector<std::string>{"4,981", "1,185", "4,981"});
  CHECK(row.count("KV transfer p99") == 0);  // no policy has one
  // No chart of zeros: named under the charts instead.
  for (const char* zero : {"preemptions", "swapped-out-tokens", "rejected"}) {
    INFO(zero);
    CHECK_FALSE(fs::exists(out + "/plots/compare-" + std::string(zero) + ".svg"));
  }
  CHECK(html.find("<li>preemptions: 0 under every policy</li>") != std::string::npos);
  std::size_t charts = 0;
  for (const auto& e : fs::directory_iterator(out + "/plots")) {
    if (e.path().extension() != ".gp") continue;
    ++charts;
    INFO(e.path());
    const std::string gp = read_file(e.path().string());
    const auto values = data_values(gp);
    CHECK(std::any_of(values.begin(), values.end(), [](double v) { return std::isfinite(v) && v != 0.0; }));
    std::string svg_path = e.path().string();
    svg_path.replace(svg_path.size() - 3, 3, ".svg");
    check_readable_plot(gp, read_file(svg_path));
  }
  CHECK(charts >= 10);
  // Where one policy's figure is 2,000 times the others', a log axis; under a decade, linear.
  const std::string ttft = read_file(out + "/plots/compare-ttft-p99-s.gp");
  CHECK(ttft.find("set logscale y") != std::string::npos);
  CHECK(ttft.find("set ylabel 'TTFT p99 (s, log scale)'") != std::string::npos);
  CHECK(ttft.find("'206 ms'") != std::string::npos);  // the value over its bar
  const std::string tpot = read_file(out + "/plots/compare-tpot-p99-s.gp");
  CHECK(tpot.find("set logscale") == std::string::npos);
  CHECK(tpot.find("set ylabel 'TPOT p99 (ms)'") != std::string::npos);
  // Attainment in percent, on 0 to 100.
  const std::string att = read_file(out + "/plots/compare-slo-attainment.gp");
  CHECK(att.find("(% of requests meeting both targets)") != std::string::npos);
  CHECK(att.find("'97.0 %'") != std::string::npos);
  const auto att_values = data_values(att);
  CHECK(*std::max_element(att_values.begin(), att_values.end()) == Approx(100.0));
  fs::remove_all(out);
}

TEST_CASE("a sizing page's plots: one legend entry per GPU type, answers across the x axis, an estimate far off "
          "drawn at the edge",
          "[report][readable]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("size-readable");
  // k = 40: an analytic estimate ten times the usual, far right of every probe.
  const auto r = run_command(binary() + " size -j 2 --report --out " + out + " --gpus h100-sxm,b200 -k 40" +
                             " --set duration_s=120 --set warmup_s=10 --set workload.arrival.rate_per_s=30");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  check_report(out, 3, {"Fleet size", "plots/size-ttft.svg", "plots/size-tpot.svg", "plots/size-attainment.svg"});
  const auto sizing = nlohmann::json::parse(read_file(out + "/sizing.json"));
  double answer_max = 0, estimate_min = 1e300;
  for (const auto& g : sizing["results"]) {
    answer_max = std::max(answer_max, g["replicas"].get<double>());
    estimate_min = std::min(estimate_min, g["analytic_estimate"]["replicas"].get<double>());
  }
  REQUIRE(estimate_min > 4 * answer_max);
  for (const char* name : {"size-ttft", "size-tpot", "size-attainment"}) {
    INFO(name);
    const std::string gp = read_file(out + "/plots/" + name + ".gp");
    // Legend: the two GPU types and what the marks mean (filled, open, answer, estimate, target), not five per type.
    const std::regex titled(R"([^t] title '([^']+)')");  // not "set title"
    std::size_t entries = 0;
    for (auto it = std::sregex_iterator(gp.begin(), gp.end(), titled); it != std::sregex_iterator(); ++it) ++entries;
    CHECK(entries <= 2 + 5);
    CHECK(gp.find("title 'h100-sxm'") != std::string::npos);
    CHECK(gp.find("title 'b200'") != std::string::npos);
    // The x axis ends near the answers, not at the estimate; the estimate is named at the edge.
    std::smatch range;
    REQUIRE(std::regex_search(gp, range, std::regex(R"(set xrange \[([-\d.e+]+):([-\d.e+]+)\])")));
    CHECK(std::stod(range[2].str()) < estimate_min);
    CHECK(std::stod(range[2].str()) > answer_max);
    CHECK(gp.find("b200 estimate: ") != std::string::npos);
    CHECK(gp.find("h100-sxm estimate: ") != std::string::npos);
  }
  CHECK(read_file(out + "/report.html").find("Off the scale") != std::string::npos);
  fs::remove_all(out);
}

TEST_CASE("a compare --size folder's page shows each policy's fleet beside the estimate, with k and u",
          "[report][compare][sizing]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("compare-size-page");
  write_file(out + "/compare.csv",
             "batching,router,ok,requests_per_s,ttft_p99_s,error\n"
             "continuous,round-robin,1,20.0,0.2,\"\"\n"
             "static,round-robin,1,4.5,408.4,\"\"\n"
             "chunked-prefill,round-robin,1,20.0,0.2,\"\"\n");
  // As compare --size writes it: static needs 213 GPUs at u = 0.19 %, the others 1; one row not sized.
  write_file(out + "/compare_size.csv",
             "batching,router,found,replicas,gpus,peak_multiple_k,utilization_2p,utilization_active,"
             "utilization_cost_model,estimate_gpus,estimate_over_simulated,binding_limit,reason\n"
             "continuous,round-robin,1,1,1,1.0000003,0.410912,0.410912,0.452,4.9,4.9,TTFT from queueing,\n"
             "static,round-robin,1,213,213,1.0000003,0.00192917,0.00192917,0.0021,4.9,0.0230046948,batch cap,\n"
             "chunked-prefill,round-robin,0,0,0,0,0,0,0,4.9,0,,no fleet of up to 4096 replicas meets the targets\n");
  const auto r = run_command(binary() + " report " + out);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string html = read_file(out + "/report.html");
  const auto table = table_after(html, "Each policy sized against the estimate");
  REQUIRE(table.size() == 3);  // header and the two policies sized
  CHECK(table[0][0] == "policy");
  CHECK(table[1] == std::vector<std::string>{"continuous / round-robin", "1", "1", "1.00", "41.1 %", "45.2 %", "4.90",
                                             "4.90 ×", "TTFT from queueing"});
  CHECK(table[2][1] == "213");
  CHECK(table[2][4] == "0.2 %");
  CHECK(table[2][7] == "0.023 ×");
  CHECK(html.find("chunked-prefill / round-robin: no fleet of up to 4096 replicas meets the targets") !=
        std::string::npos);
  // The chart: simulated and estimated GPUs per policy, a log axis (1 to 213 spans two decades).
  const std::string gp = read_file(out + "/plots/compare-size-gpus.gp");
  CHECK(gp.find("set logscale y") != std::string::npos);
  CHECK(gp.find("simulated fleet") != std::string::npos);
  CHECK(gp.find("analytic estimate") != std::string::npos);
  CHECK(gp.find("'213'") != std::string::npos);
  check_readable_plot(gp, read_file(out + "/plots/compare-size-gpus.svg"));
  CHECK(html.find("compare_size.csv") != std::string::npos);  // listed among the folder's files
  fs::remove_all(out);
}

TEST_CASE("a sizing page ranks the configurations by cost, as size does, with money a planner can quote",
          "[report][sizing][readable]") {
  if (!have("gnuplot")) {
    WARN("skipped: gnuplot is not installed (apt-get install gnuplot-nox)");
    return;
  }
  const std::string out = temp_dir("size-money");
  const auto r = run_command(binary() + " size -j 2 --gpus h100-sxm,b200,a100-80gb --report --out " + out +
                             " --set duration_s=120 --set warmup_s=10 --set workload.arrival.rate_per_s=30");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(read_file(out + "/sizing.json"));
  const auto table = table_after(read_file(out + "/report.html"), "The formula, the margin and the money");
  REQUIRE(table.size() == 4);
  CHECK(table[0][0] == "rank (by cost)");
  double last = -1.0;
  for (std::size_t i = 1; i < table.size(); ++i) {
    INFO(table[i][1]);
    CHECK(table[i][0] == std::to_string(i));
    // The row's configuration, its cost in sizing.json: never cheaper than the row above.
    const std::string name = table[i][1].substr(0, table[i][1].find(' '));
    double cost = -1.0, per_day = -1.0;
    for (const auto& g : j["results"])
      if (g["gpu"] == name) {
        cost = g["cost"].get<double>();
        per_day = g["economics"]["per_day"]["usd"].get<double>();
        CHECK(table[i][2] == std::to_string(static_cast<int>(g["gpus"].get<double>())));
      }
    REQUIRE(cost >= 0.0);
    CHECK(cost >= last);
    last = cost;
    // Dollars as a planner writes them: "$720", "$21,915".
    const std::string day = table[i][10];
    CHECK(day.front() == '$');
    CHECK(day.find('.') == std::string::npos);
    std::string digits;
    for (char c : day) if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    CHECK(std::stod(digits) == Approx(std::round(per_day)).margin(0.5));
  }
  fs::remove_all(out);
}

TEST_CASE("compare's terminal table shows durations in units that suit them", "[report][readable][compare]") {
  // Static batching on this load queues for minutes: its TTFT p99 was printed as "408388ms".
  const auto r = run_command(binary() + " compare --jobs 2 --policies continuous,static --set duration_s=120 "
                             "--set warmup_s=10");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(std::regex_search(r.output, std::regex(R"(\d{5,}(\.\d+)? ?ms)")));  // 10 s and up: seconds
  const std::regex static_row(R"(\nstatic +round-robin +[^\n]*)");
  std::smatch m;
  REQUIRE(std::regex_search(r.output, m, static_row));
  const std::string row = m.str();
  INFO(row);
  CHECK(std::regex_search(row, std::regex(R"( \d+(\.\d)? (s|min|h) )")));  // TTFT in seconds or more
  CHECK(std::regex_search(row, std::regex(R"( \d+\.\d+ ms )")));           // TPOT in ms
  CHECK_THAT(r.output, Catch::Matchers::Contains("TTFT p99") && Catch::Matchers::Contains("goodput/s"));
}

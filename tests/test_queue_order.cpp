// Queue orders end to end (the binary): the same requests under fifo, priority and shortest-prompt-first on one
// loaded replica. Checked against what queueing theory says of these disciplines: serving shorter jobs first
// lowers the mean wait (SPT) and stretches the tail of the longest; a priority class served first waits less than
// the other, while under fifo the two classes, drawn at random from the same requests, wait alike.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

#include "helpers.hpp"

using namespace tf::test;

namespace {

const char* kScenario = R"(name = "queue-order"
seed = 4
duration_s = 300
warmup_s = 30
[model]
name = "llama-3.1-8b"
[hardware]
gpu = "h100-sxm"
[fleet]
replicas = 1
[workload]
arrival = { process = "poisson", rate_per_s = 7.5 }
prompt_tokens = { dist = "lognormal", mean = 2000, p99 = 8000 }
output_tokens = { dist = "lognormal", mean = 200, p99 = 800 }
priority_shares = [0.2, 0.8]
[policy]
max_batch = 32
)";

struct Run {
  nlohmann::json summary;
  std::string requests;  // requests.csv
};

Run run(const std::string& order) {
  const std::string dir = temp_dir("queue-order-" + order);
  write_file(dir + "/s.toml", kScenario);
  const auto r = run_command(binary() + " run " + dir + "/s.toml --quiet --out " + dir + "/out --set policy.queue_order=" +
                             order);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return {nlohmann::json::parse(read_file(dir + "/out/summary.json")), read_file(dir + "/out/requests.csv")};
}

double mean_ttft(const nlohmann::json& j) { return j.at("latency_s").at("ttft").at("mean").get<double>(); }

// The columns that describe the requests themselves (id, arrival, lengths, class), not how they were served.
std::string request_columns(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (line.back() == ',') f.push_back("");
    REQUIRE(f.size() == 13);
    out += f[0] + "," + f[1] + "," + f[2] + "," + f[3] + "," + f[12] + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("queue orders: the same requests, priority serves class 0 first, shortest-prompt-first lowers the mean "
          "TTFT and stretches its tail",
          "[queue-order]") {
  const Run fifo = run("fifo"), priority = run("priority"), spf = run("shortest-prompt-first");
  // The same requests (the order changes only how they are served).
  CHECK(request_columns(priority.requests) == request_columns(fifo.requests));
  CHECK(request_columns(spf.requests) == request_columns(fifo.requests));
  const auto& classes = fifo.summary.at("priority_classes");
  REQUIRE(classes.size() == 2);
  const double share0 = classes[0].at("measured").get<double>() / fifo.summary.at("requests").at("measured").get<double>();
  CHECK(share0 == Approx(0.2).margin(0.04));
  // fifo: the classes are a random split of the same stream: they wait alike (within 25 %).
  const double f0 = mean_ttft(classes[0]), f1 = mean_ttft(classes[1]);
  CHECK(f0 == Approx(f1).epsilon(0.25));
  // priority: class 0 waits far less than class 1, and less than anyone under fifo.
  const auto& pc = priority.summary.at("priority_classes");
  CHECK(mean_ttft(pc[0]) < 0.5 * mean_ttft(pc[1]));
  CHECK(mean_ttft(pc[0]) < 0.5 * mean_ttft(fifo.summary));
  // shortest-prompt-first: a lower mean TTFT than fifo (SPT minimises the mean wait), a longer longest one.
  CHECK(mean_ttft(spf.summary) < mean_ttft(fifo.summary));
  CHECK(spf.summary.at("latency_s").at("ttft").at("max").get<double>() >
        fifo.summary.at("latency_s").at("ttft").at("max").get<double>());
}

TEST_CASE("queue orders: without priority shares requests.csv has no priority column and summary.json no classes",
          "[queue-order]") {
  const std::string dir = temp_dir("queue-order-plain");
  std::string text = kScenario;
  text.replace(text.find("priority_shares = [0.2, 0.8]\n"), 29, "");
  write_file(dir + "/s.toml", text);
  const auto r = run_command(binary() + " run " + dir + "/s.toml --quiet --out " + dir + "/out");
  REQUIRE(r.exit_code == 0);
  const std::string csv = read_file(dir + "/out/requests.csv");
  CHECK(csv.substr(0, csv.find('\n')) ==
        "id,arrival_s,prompt_tokens,output_tokens,replica,queue_s,ttft_s,tpot_s,e2e_s,rejected,prefill_replica,"
        "kv_transfer_s");
  CHECK_FALSE(nlohmann::json::parse(read_file(dir + "/out/summary.json")).contains("priority_classes"));
}

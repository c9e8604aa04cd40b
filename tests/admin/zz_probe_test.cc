// Temporary probe (removed before report).
#include <doctest/doctest.h>
#include <fstream>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>
#include <memory>
#include "admin_fixture.h"
#include "raw_http_client.h"
namespace jwtgate::admin {
namespace {
long rssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}
TEST_CASE("zz probe memory") {
  if (!getenv("ZZ_PROBE")) return;
  size_t body = static_cast<size_t>(std::atol(getenv("ZZ_PROBE")));
  std::string text(body, 'm'); text.back() = '\n';
  testing::AdminFixture admin({}, AF_INET, text);
  long before = rssKb();
  std::vector<std::unique_ptr<testing::RawClient>> clients;
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
  for (int c = 0; c < 8; ++c) {
    clients.push_back(std::make_unique<testing::RawClient>(admin.port()));
    for (int k = 0; k < 10; ++k) clients.back()->send(batch);  // may block: never read
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  long after = rssKb();
  MESSAGE("body " << body << " rss before " << before << " kB after " << after << " kB, per conn " << (after - before) / 8 << " kB");
  std::system(("ss -tmn state established '( sport = :" + std::to_string(admin.port()) + " )' | head -8").c_str());
}
}}

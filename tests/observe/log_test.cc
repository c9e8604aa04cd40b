// Diagnostics: level parsing and filtering, the line format, and routing through a writer.
#include "observe/log.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "jwks/log_sink.h"
#include "pipe_reader.h"
#include "proxy/log.h"

namespace jwtgate::observe {
namespace {

// Restores the process-wide level when a test ends.
struct LevelGuard {
  Level saved = currentLevel();
  ~LevelGuard() { setLevel(saved); }
};

// Runs `body` with diagnostics routed into a writer on a pipe; returns what reached the pipe.
template <typename Body>
std::string capture(Body body) {
  testing::Pipe pipe;
  testing::PipeReader reader(pipe.read_fd);
  {
    LineWriter writer(pipe.write_fd);
    LineWriter::Channel* channel = writer.openChannel(1 << 20);
    writer.start();
    routeDiagnostics(channel);
    body();
    routeDiagnostics(nullptr);
    writer.stop();
  }
  pipe.closeWrite();
  reader.join();
  return reader.text();
}

}  // namespace

TEST_SUITE("observe/log") {
  TEST_CASE("levels parse from their lower-case names only") {
    struct Row {
      const char* text;
      std::optional<Level> level;
    };
    const Row rows[] = {{"debug", Level::Debug},   {"info", Level::Info},  {"warn", Level::Warn},
                        {"error", Level::Error},   {"INFO", std::nullopt}, {"Warn", std::nullopt},
                        {"warning", std::nullopt}, {"", std::nullopt},     {" info", std::nullopt},
                        {"info ", std::nullopt},   {"err", std::nullopt},  {"trace", std::nullopt}};
    for (const Row& row : rows) {
      CAPTURE(row.text);
      CHECK((parseLevel(row.text) == row.level));
    }
    for (Level level : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
      CHECK((parseLevel(toString(level)) == level));
    }
  }

  TEST_CASE("the level decides which lines are enabled") {
    LevelGuard guard;
    setLevel(Level::Info);
    CHECK_FALSE(enabled(Level::Debug));
    CHECK(enabled(Level::Info));
    CHECK(enabled(Level::Error));
    setLevel(Level::Error);
    CHECK_FALSE(enabled(Level::Warn));
    CHECK(enabled(Level::Error));
    setLevel(Level::Debug);
    CHECK(enabled(Level::Debug));
    CHECK((currentLevel() == Level::Debug));
  }

  TEST_CASE("lines have the prefix and level, and filtered levels write nothing") {
    LevelGuard guard;
    setLevel(Level::Info);
    const std::string out = capture([] {
      log(Level::Debug, "hidden %d", 1);
      log(Level::Info, "started %d workers", 2);
      log(Level::Warn, "upstream %s: %s", "127.0.0.1:9", "refused");
      logText(Level::Error, "cannot bind");
      setLevel(Level::Error);
      log(Level::Warn, "hidden too");
    });
    CHECK(out ==
          "jwtgate: info: started 2 workers\n"
          "jwtgate: warn: upstream 127.0.0.1:9: refused\n"
          "jwtgate: error: cannot bind\n");
  }

  TEST_CASE("control bytes cannot split a line and long text is cut") {
    LevelGuard guard;
    setLevel(Level::Info);
    const std::string long_text(kMaxLogText + 500, 'x');
    const std::string out = capture([&] {
      log(Level::Info, "a\nforged: line\r\x1b[31m\tend");
      logText(Level::Info, std::string_view("nul\0here\n", 9));
      log(Level::Info, "%s", long_text.c_str());
      logText(Level::Info, long_text);
    });
    const std::string cut = "jwtgate: info: " + std::string(kMaxLogText, 'x') + "\n";
    CHECK(out ==
          "jwtgate: info: a?forged: line??[31m\tend\n"
          "jwtgate: info: nul?here?\n" +
              cut + cut);
  }

  TEST_CASE("lines of many threads through the routed channel arrive whole") {
    LevelGuard guard;
    setLevel(Level::Info);
    constexpr int kThreads = 4;
    constexpr int kLines = 2000;
    const std::string out = capture([] {
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t] {
          for (int i = 0; i < kLines; ++i) {
            log(Level::Info, "thread %d line %d", t, i);
          }
        });
      }
      for (auto& thread : threads) {
        thread.join();
      }
    });
    std::vector<int> next(kThreads, 0);
    size_t start = 0;
    size_t count = 0;
    while (start < out.size()) {
      const size_t nl = out.find('\n', start);
      REQUIRE(nl != std::string::npos);
      const std::string line = out.substr(start, nl - start);
      int t = -1;
      int i = -1;
      CAPTURE(line);
      REQUIRE(std::sscanf(line.c_str(), "jwtgate: info: thread %d line %d", &t, &i) == 2);
      REQUIRE(t >= 0);
      REQUIRE(t < kThreads);
      CHECK(i == next[t]);  // in order per thread
      next[t] = i + 1;
      ++count;
      start = nl + 1;
    }
    CHECK(count == static_cast<size_t>(kThreads * kLines));
  }

  TEST_CASE("the proxy and key-service wrappers write through the same logger") {
    LevelGuard guard;
    setLevel(Level::Info);
    const std::string out = capture([] {
      proxy::logMessage(proxy::LogLevel::Debug, "not shown");
      proxy::logMessage(proxy::LogLevel::Warn, "accept failed (%s)", "EMFILE");
      const jwks::LogSink sink = jwks::stderrLogSink();
      sink(jwks::LogLevel::Info, "fetched JWKS");
      sink(jwks::LogLevel::Error, "no keys");
      setLevel(Level::Debug);
      proxy::logMessage(proxy::LogLevel::Debug, "now shown");
    });
    CHECK(out ==
          "jwtgate: warn: accept failed (EMFILE)\n"
          "jwtgate: info: fetched JWKS\n"
          "jwtgate: error: no keys\n"
          "jwtgate: debug: now shown\n");
  }

  TEST_CASE("rate limiting allows the first call and then one per interval") {
    uint64_t last = 0;
    CHECK(rateLimitAllows(&last, 0, 1000));  // the very first call, even at time 0
    CHECK_FALSE(rateLimitAllows(&last, 1, 1000));
    CHECK_FALSE(rateLimitAllows(&last, 1000, 1000));
    CHECK(rateLimitAllows(&last, 1001, 1000));
    CHECK_FALSE(rateLimitAllows(&last, 2000, 1000));
    CHECK(rateLimitAllows(&last, 5000, 1000));
    uint64_t other = 0;
    CHECK(rateLimitAllows(&other, 5001, 1000));  // slots are independent
    CHECK(proxy::rateLimitAllows(&other, 7000, 1000));
  }
}

}  // namespace jwtgate::observe

#include "app/config_reloader.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "support/test_signer.h"

namespace jwtgate::app {
namespace {

using testing::TestSigner;

// A temporary directory with the files of one case, removed (recursively) at the end.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    path_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/jwtgate-app-XXXXXX";
    REQUIRE(::mkdtemp(path_.data()) != nullptr);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

  // Writes `text` to a sibling file and renames it over `name`, as configuration tools do.
  void replace(std::string_view name, std::string_view text) const {
    const std::string staged = file(std::string(name) + ".new");
    write(staged, text);
    REQUIRE(std::rename(staged.c_str(), file(name).c_str()) == 0);
  }

  static void write(const std::string& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
  }

 private:
  std::string path_;
};

std::string jwks(std::string_view kid = "k1") {
  return TestSigner::shared(verifier::Algorithm::RS256).jwks(std::string(kid));
}

// A whole configuration: one provider with the key file `keys`, one route under `prefix`.
std::string configText(const std::string& keys, std::string_view extra = "",
                       std::string_view listen = "127.0.0.1:0", std::string_view prefix = "/") {
  return "listen: " + std::string(listen) +
         "\n"
         "upstream: 127.0.0.1:3000\n"
         "reload: {debounce: 20ms}\n"
         "providers:\n"
         "  corp:\n"
         "    issuer: https://id.example.com/\n"
         "    audiences: [api]\n"
         "    keys: [{file: " +
         keys +
         "}]\n"
         "    token_from:\n"
         "      - {header: Authorization, scheme: Bearer}\n"
         "      - {query: access_token}\n"
         "routes:\n"
         "  - name: all\n"
         "    match: {prefix: " +
         std::string(prefix) +
         "}\n"
         "    require: {provider: corp}\n" +
         std::string(extra);
}

Config loadOk(const std::string& path) {
  auto config = loadConfigFile(path);
  if (!config) {
    FAIL("refused: " << config.error().toString());
  }
  return std::move(config).value();
}

std::string metricsOf(const ConfigReloader& reloader) {
  observe::MetricsText text;
  reloader.collectMetrics(text);
  return text.take();
}

// Runs `loop` until `done()` holds or `limit_ms` of loop time passed (a bound, not a
// measurement: the case fails on the condition, never on the time).
template <typename Done>
void runUntil(uv_loop_t* loop, Done done, uint64_t limit_ms = 5000) {
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 10, 10);
  const uint64_t end = uv_now(loop) + limit_ms;
  while (!done() && uv_now(loop) < end) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

TEST_SUITE("app/config_reloader") {
  TEST_CASE("only the restart-only keys that differ are listed") {
    TempDir dir;
    TempDir::write(dir.file("keys.json"), jwks());
    const std::string keys = dir.file("keys.json");
    TempDir::write(dir.file("a.yaml"), configText(keys));
    const Config base = loadOk(dir.file("a.yaml"));

    const struct {
      std::string extra;
      std::string listen;
      std::vector<std::string> expected;
    } rows[] = {
        {"", "127.0.0.1:0", {}},
        {"log_level: debug\n", "127.0.0.1:0", {}},
        {"access_log: {subject_claim: email, secret_claims: [email]}\n", "127.0.0.1:0", {}},
        {"", "127.0.0.1:8081", {"listen"}},
        {"workers: 2\n", "127.0.0.1:0", {"workers"}},
        {"limits: {max_body_bytes: 1MiB}\n", "127.0.0.1:0", {"limits"}},
        {"timeouts: {shutdown_grace: 5s}\n", "127.0.0.1:0", {"timeouts"}},
        {"trust_forwarded: true\n", "127.0.0.1:0", {"trust_forwarded"}},
        {"admin: {listen: 127.0.0.1:9902}\n", "127.0.0.1:0", {"admin"}},
        {"access_log: {output: stderr}\n", "127.0.0.1:0", {"access_log.output"}},
        {"access_log: {buffer: 2MiB}\n", "127.0.0.1:0", {"access_log.buffer"}},
        {"reload: {watch: false}\n", "127.0.0.1:0", {"reload"}},
        {"workers: 3\ntrust_forwarded: true\n",
         "127.0.0.1:1",
         {"listen", "workers", "trust_forwarded"}},
    };
    for (const auto& row : rows) {
      CAPTURE(row.extra);
      CAPTURE(row.listen);
      std::string text = configText(keys, row.extra, row.listen);
      if (row.extra.starts_with("reload:")) {
        text.replace(text.find("reload: {debounce: 20ms}\n"), 25, "");
      }
      TempDir::write(dir.file("b.yaml"), text);
      CHECK(restartOnlyChanges(base, loadOk(dir.file("b.yaml"))) == row.expected);
    }
  }

  TEST_CASE("turning auth off is a restart-only change") {
    TempDir dir;
    TempDir::write(dir.file("keys.json"), jwks());
    TempDir::write(dir.file("a.yaml"), configText(dir.file("keys.json")));
    TempDir::write(dir.file("b.yaml"),
                   "listen: 127.0.0.1:0\nupstream: 127.0.0.1:3000\n"
                   "reload: {debounce: 20ms}\nauth: off\n");
    const auto changes = restartOnlyChanges(loadOk(dir.file("a.yaml")), loadOk(dir.file("b.yaml")));
    CHECK(changes == std::vector<std::string>{"auth: off"});
  }

  TEST_CASE("the key files and redacted query parameters come from the providers") {
    TempDir dir;
    TempDir::write(dir.file("keys.json"), jwks());
    TempDir::write(dir.file("a.yaml"), configText("keys.json"));
    const Config config = loadOk(dir.file("a.yaml"));
    CHECK(localKeyFiles(config) == std::vector<std::string>{dir.file("keys.json")});
    CHECK(redactedQueryParams(config) == std::vector<std::string>{"access_token"});
  }

  TEST_CASE("reload applies a valid file, refuses a bad one and ignores an unchanged one") {
    TempDir dir;
    const std::string keys = dir.file("keys.json");
    TempDir::write(keys, jwks());
    const std::string path = dir.file("jwtgate.yaml");
    TempDir::write(path, configText(keys));
    ConfigReloader reloader(path, loadOk(path), {});
    const auto first_auth = reloader.running().auth;

    // Same bytes: nothing happens and nothing is counted.
    CHECK(reloader.reload() == ReloadResult::Unchanged);
    CHECK(metricsOf(reloader).find("jwtgate_config_reloads_total{result=\"ok\"} 0") !=
          std::string::npos);

    // A new route prefix: applied.
    dir.replace("jwtgate.yaml", configText(keys, "", "127.0.0.1:0", "/api/"));
    CHECK(reloader.reload() == ReloadResult::Ok);
    CHECK(reloader.running().auth != first_auth);
    const auto second_auth = reloader.running().auth;

    // Invalid files leave the running configuration alone.
    for (const std::string& bad : {std::string("listen: [\n"), configText(keys, "colour: blue\n"),
                                   configText(dir.file("missing.json"))}) {
      CAPTURE(bad);
      dir.replace("jwtgate.yaml", bad);
      CHECK(reloader.reload() == ReloadResult::Failed);
      CHECK(reloader.running().auth == second_auth);
    }

    // A restart-only change is applied for the rest and counted partial.
    dir.replace("jwtgate.yaml", configText(keys, "log_level: warn\n", "127.0.0.1:1"));
    CHECK(reloader.reload() == ReloadResult::Partial);
    CHECK((reloader.running().ops.log_level == observe::Level::Warn));
    CHECK(reloader.running().proxy.listen[0].text == "127.0.0.1:0");
    observe::setLevel(observe::Level::Info);

    const std::string text = metricsOf(reloader);
    CHECK(text.find("jwtgate_config_reloads_total{result=\"ok\"} 1\n") != std::string::npos);
    CHECK(text.find("jwtgate_config_reloads_total{result=\"partial\"} 1\n") != std::string::npos);
    CHECK(text.find("jwtgate_config_reloads_total{result=\"failed\"} 3\n") != std::string::npos);
    CHECK(text.find("# TYPE jwtgate_config_last_reload_success_timestamp_seconds gauge") !=
          std::string::npos);
  }

  TEST_CASE("a changed key file is a change even when the config file is not") {
    TempDir dir;
    const std::string keys = dir.file("keys.json");
    TempDir::write(keys, jwks("k1"));
    const std::string path = dir.file("jwtgate.yaml");
    TempDir::write(path, configText(keys));
    ConfigReloader reloader(path, loadOk(path), {});
    dir.replace("keys.json", jwks("k2"));
    CHECK(reloader.reload() == ReloadResult::Ok);
    CHECK(reloader.reload() == ReloadResult::Unchanged);
  }

  TEST_CASE("watchers reload after a rename and after a ..data symlink swap") {
    TempDir dir;
    // The Kubernetes layout: the file is a symlink through ..data to a versioned directory.
    REQUIRE(::mkdir(dir.file("..v1").c_str(), 0700) == 0);
    const std::string keys = dir.file("keys.json");
    TempDir::write(keys, jwks());
    TempDir::write(dir.file("..v1/jwtgate.yaml"), configText(keys));
    REQUIRE(::symlink("..v1", dir.file("..data").c_str()) == 0);
    REQUIRE(::symlink("..data/jwtgate.yaml", dir.file("jwtgate.yaml").c_str()) == 0);
    const std::string path = dir.file("jwtgate.yaml");

    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
      ConfigReloader reloader(path, loadOk(path), {});
      reloader.start(&loop);
      CHECK(reloader.watchedDirectories() == std::vector<std::string>{dir.path()});

      // The swap: a new versioned directory, a new symlink renamed over ..data.
      REQUIRE(::mkdir(dir.file("..v2").c_str(), 0700) == 0);
      TempDir::write(dir.file("..v2/jwtgate.yaml"), configText(keys, "", "127.0.0.1:0", "/v2/"));
      REQUIRE(::symlink("..v2", dir.file("..data_tmp").c_str()) == 0);
      REQUIRE(std::rename(dir.file("..data_tmp").c_str(), dir.file("..data").c_str()) == 0);
      runUntil(&loop,
               [&] { return metricsOf(reloader).find("result=\"ok\"} 1\n") != std::string::npos; });
      CHECK(metricsOf(reloader).find("result=\"ok\"} 1\n") != std::string::npos);

      // A key file in another directory: that directory is watched too, and a change of the
      // key file alone reloads.
      TempDir other;
      const std::string moved = other.file("keys.json");
      TempDir::write(moved, jwks("k2"));
      reloader.onHangup();  // still the old file: unchanged
      REQUIRE(::mkdir(dir.file("..v3").c_str(), 0700) == 0);
      TempDir::write(dir.file("..v3/jwtgate.yaml"), configText(moved));
      REQUIRE(::symlink("..v3", dir.file("..data_tmp").c_str()) == 0);
      REQUIRE(std::rename(dir.file("..data_tmp").c_str(), dir.file("..data").c_str()) == 0);
      runUntil(&loop,
               [&] { return metricsOf(reloader).find("result=\"ok\"} 2\n") != std::string::npos; });
      std::vector<std::string> expected = {dir.path(), other.path()};
      std::sort(expected.begin(), expected.end());
      CHECK(reloader.watchedDirectories() == expected);
      other.replace("keys.json", jwks("k3"));
      runUntil(&loop,
               [&] { return metricsOf(reloader).find("result=\"ok\"} 3\n") != std::string::npos; });
      CHECK(metricsOf(reloader).find("result=\"ok\"} 3\n") != std::string::npos);
      CHECK(metricsOf(reloader).find("result=\"failed\"} 0\n") != std::string::npos);
      reloader.close();
      reloader.close();
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    CHECK(uv_loop_close(&loop) == 0);
  }

  TEST_CASE("writes to other files in a watched directory do not reload") {
    TempDir dir;
    const std::string keys = dir.file("keys.json");
    TempDir::write(keys, jwks());
    const std::string path = dir.file("jwtgate.yaml");
    TempDir::write(path, configText(keys));
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
      ConfigReloader reloader(path, loadOk(path), {});
      reloader.start(&loop);

      // A refused file stays in place, so every reload it triggers is counted as failed.
      dir.replace("jwtgate.yaml", "listen: [\n");
      runUntil(&loop, [&] {
        return metricsOf(reloader).find("result=\"failed\"} 1\n") != std::string::npos;
      });
      REQUIRE(metricsOf(reloader).find("result=\"failed\"} 1\n") != std::string::npos);

      // A log file and an editor's swap file beside the config: no reload, however long the
      // loop runs (here: well past the 20 ms debounce).
      for (int i = 0; i < 5; ++i) {
        TempDir::write(dir.file("jwtgate.log"), "line " + std::to_string(i) + "\n");
        TempDir::write(dir.file(".jwtgate.yaml.swp"), "x");
        runUntil(&loop, [] { return false; }, 60);
      }
      CHECK(metricsOf(reloader).find("result=\"failed\"} 1\n") != std::string::npos);

      // The config file itself still counts.
      dir.replace("jwtgate.yaml", configText(keys, "", "127.0.0.1:0", "/v2/"));
      runUntil(&loop,
               [&] { return metricsOf(reloader).find("result=\"ok\"} 1\n") != std::string::npos; });
      CHECK(metricsOf(reloader).find("result=\"ok\"} 1\n") != std::string::npos);
      CHECK(metricsOf(reloader).find("result=\"failed\"} 1\n") != std::string::npos);
      reloader.close();
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    CHECK(uv_loop_close(&loop) == 0);
  }

  TEST_CASE("a watched directory that is replaced is watched again") {
    TempDir dir;
    const std::string keys = dir.file("keys.json");
    TempDir::write(keys, jwks());
    const std::string conf = dir.file("conf");
    REQUIRE(::mkdir(conf.c_str(), 0700) == 0);
    const std::string path = conf + "/jwtgate.yaml";
    TempDir::write(path, configText(keys));
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
      ConfigReloader reloader(path, loadOk(path), {});
      reloader.start(&loop);
      const auto reloaded = [&](int count) {
        return metricsOf(reloader).find("result=\"ok\"} " + std::to_string(count) + "\n") !=
               std::string::npos;
      };

      // The whole directory goes and a new one takes its name (a new inode).
      const std::string staged = dir.file("conf.new");
      REQUIRE(::mkdir(staged.c_str(), 0700) == 0);
      TempDir::write(staged + "/jwtgate.yaml", configText(keys, "", "127.0.0.1:0", "/v2/"));
      REQUIRE(std::system(("rm -rf '" + conf + "'").c_str()) == 0);
      REQUIRE(std::rename(staged.c_str(), conf.c_str()) == 0);
      runUntil(&loop, [&] { return reloaded(1); });
      REQUIRE(reloaded(1));

      // An edit in the new directory is still seen.
      TempDir::write(conf + "/jwtgate.yaml.new", configText(keys, "", "127.0.0.1:0", "/v3/"));
      REQUIRE(std::rename((conf + "/jwtgate.yaml.new").c_str(), path.c_str()) == 0);
      runUntil(&loop, [&] { return reloaded(2); });
      CHECK(reloaded(2));
      reloader.close();
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    CHECK(uv_loop_close(&loop) == 0);
  }

  TEST_CASE("watch: false starts no watcher") {
    TempDir dir;
    const std::string keys = dir.file("keys.json");
    TempDir::write(keys, jwks());
    const std::string path = dir.file("jwtgate.yaml");
    std::string text = configText(keys);
    text.replace(text.find("{debounce: 20ms}"), 16, "{watch: false}");
    TempDir::write(path, text);
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
      ConfigReloader reloader(path, loadOk(path), {});
      reloader.start(&loop);
      CHECK(reloader.watchedDirectories().empty());
      reloader.close();
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    CHECK(uv_loop_close(&loop) == 0);
  }
}

}  // namespace
}  // namespace jwtgate::app

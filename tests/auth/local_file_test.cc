// Bounded reads of local files: regular files only, never past the cap, never blocking.
#include "auth/local_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/token_minter.h"

namespace jwtgate::auth {
namespace {

using testing::TempFile;

TEST_SUITE("auth/local_file") {
  TEST_CASE("a regular file is read whole, byte for byte") {
    const std::string contents = std::string("line 1\n\0binary\xff", 15) + std::string(70000, 'x');
    const TempFile file(contents);
    auto text = readLocalFile(file.path(), contents.size());
    REQUIRE(text.ok());
    CHECK(*text == contents);

    const TempFile empty("");
    auto nothing = readLocalFile(empty.path(), 16);
    REQUIRE(nothing.ok());
    CHECK(nothing->empty());
  }

  TEST_CASE("a file one byte over the cap is refused, one at the cap is read") {
    for (const std::size_t cap : {std::size_t{1}, std::size_t{4096}, kMaxConfigFileBytes}) {
      CAPTURE(cap);
      const TempFile at_cap(std::string(cap, 'a'));
      const TempFile over_cap(std::string(cap + 1, 'a'));
      auto read = readLocalFile(at_cap.path(), cap);
      REQUIRE(read.ok());
      CHECK(read->size() == cap);
      auto refused = readLocalFile(over_cap.path(), cap);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error() ==
            std::to_string(cap + 1) + " bytes, larger than the " + describeSize(cap) + " limit");
    }
  }

  TEST_CASE("devices, FIFOs and directories are refused before any read") {
    const char* tmp = std::getenv("TMPDIR");
    std::string dir =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/jwtgate-test-XXXXXX";
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    const std::string fifo = dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"/dev/zero", "not a regular file (a device)"},
        {"/dev/null", "not a regular file (a device)"},
        {fifo, "not a regular file (a FIFO)"},
        {dir, "not a regular file (a directory)"},
        {dir + "/missing", "No such file or directory"},
    };
    for (const auto& [path, reason] : rows) {
      CAPTURE(path);
      auto read = readLocalFile(path, kMaxKeyFileBytes);
      REQUIRE_FALSE(read.ok());
      CHECK(read.error() == reason);
    }
    ::unlink(fifo.c_str());
    ::rmdir(dir.c_str());
  }

  TEST_CASE("size caps are described in the unit they were written in") {
    CHECK(describeSize(kMaxKeyFileBytes) == "1 MiB");
    CHECK(describeSize(kMaxConfigFileBytes) == "4 MiB");
    CHECK(describeSize(512 * 1024) == "512 KiB");
    CHECK(describeSize(1000) == "1000 bytes");
  }
}

}  // namespace
}  // namespace jwtgate::auth

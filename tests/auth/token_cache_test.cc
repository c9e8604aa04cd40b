#include "auth/token_cache.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace jwtgate::auth {
namespace {

// A move-only value, like the verifier's VerifiedToken.
struct Entry {
  std::unique_ptr<std::string> subject;
};

Entry entry(std::string subject) { return {std::make_unique<std::string>(std::move(subject))}; }

std::string subjectOf(const Entry* found) { return found == nullptr ? "<miss>" : *found->subject; }

std::string token(int n) {
  std::string text = "eyJhbGciOiJFUzI1NiJ9.payload-";
  text += std::to_string(n);
  text += ".sig";
  return text;
}

TEST_SUITE("auth/token_cache") {
  TEST_CASE("a stored token is found until its expiry, and missed from then on") {
    TokenCache<Entry> cache({16, 0});
    REQUIRE(cache.insert(0, token(1), entry("alice"), 1000, 900));
    CHECK(subjectOf(cache.find(0, token(1), 900)) == "alice");
    CHECK(subjectOf(cache.find(0, token(1), 999)) == "alice");
    CHECK(subjectOf(cache.find(0, token(1), 1000)) == "<miss>");
    CHECK(cache.size() == 0);
    CHECK(subjectOf(cache.find(0, token(1), 999)) == "<miss>");
    CHECK(cache.stats().hits == 2);
    CHECK(cache.stats().expired == 1);
    CHECK(cache.stats().misses == 2);
  }

  TEST_CASE("keys are exact: other bytes, a prefix or another provider miss") {
    TokenCache<Entry> cache({16, 0});
    const std::string stored = token(7);
    REQUIRE(cache.insert(3, stored, entry("bob"), 100, 0));
    CHECK(subjectOf(cache.find(3, stored, 0)) == "bob");
    CHECK(subjectOf(cache.find(4, stored, 0)) == "<miss>");
    CHECK(subjectOf(cache.find(0, stored, 0)) == "<miss>");
    CHECK(subjectOf(cache.find(3, stored.substr(0, stored.size() - 1), 0)) == "<miss>");
    CHECK(subjectOf(cache.find(3, stored + "x", 0)) == "<miss>");
    CHECK(subjectOf(cache.find(3, stored + std::string(1, '\0'), 0)) == "<miss>");
    for (std::size_t i = 0; i < stored.size(); ++i) {
      std::string flipped = stored;
      flipped[i] = static_cast<char>(flipped[i] ^ 1);
      CAPTURE(i);
      CHECK(cache.find(3, flipped, 0) == nullptr);
    }

    REQUIRE(cache.insert(4, stored, entry("carol"), 100, 0));
    CHECK(subjectOf(cache.find(3, stored, 0)) == "bob");
    CHECK(subjectOf(cache.find(4, stored, 0)) == "carol");
    CHECK(cache.size() == 2);
  }

  TEST_CASE("the least recently used entry is evicted first") {
    TokenCache<Entry> cache({3, 0});
    REQUIRE(cache.insert(0, token(1), entry("one"), 100, 0));
    REQUIRE(cache.insert(0, token(2), entry("two"), 100, 0));
    REQUIRE(cache.insert(0, token(3), entry("three"), 100, 0));
    REQUIRE(cache.find(0, token(1), 0) != nullptr);  // Order, newest first: 1 3 2.

    REQUIRE(cache.insert(0, token(4), entry("four"), 100, 0));  // Evicts 2.
    CHECK(cache.find(0, token(2), 0) == nullptr);
    CHECK(subjectOf(cache.find(0, token(3), 0)) == "three");    // Now: 3 4 1.
    REQUIRE(cache.insert(0, token(5), entry("five"), 100, 0));  // Evicts 1.
    CHECK(cache.find(0, token(1), 0) == nullptr);
    CHECK(subjectOf(cache.find(0, token(4), 0)) == "four");
    CHECK(subjectOf(cache.find(0, token(5), 0)) == "five");
    CHECK(subjectOf(cache.find(0, token(3), 0)) == "three");
    CHECK(cache.size() == 3);
    CHECK(cache.stats().evicted == 2);
  }

  TEST_CASE("the byte bound evicts as many old entries as needed") {
    TokenCache<Entry> cache({100, 100});
    REQUIRE(cache.insert(0, std::string(30, 'a'), entry("a"), 100, 0));
    REQUIRE(cache.insert(0, std::string(30, 'b'), entry("b"), 100, 0));
    REQUIRE(cache.insert(0, std::string(30, 'c'), entry("c"), 100, 0));
    CHECK(cache.bytes() == 90);
    REQUIRE(cache.insert(0, std::string(50, 'd'), entry("d"), 100, 0));  // Evicts a and b.
    CHECK(cache.size() == 2);
    CHECK(cache.bytes() == 80);
    CHECK(cache.find(0, std::string(30, 'a'), 0) == nullptr);
    CHECK(cache.find(0, std::string(30, 'b'), 0) == nullptr);
    CHECK(subjectOf(cache.find(0, std::string(30, 'c'), 0)) == "c");
    CHECK_FALSE(cache.insert(0, std::string(101, 'e'), entry("e"), 100, 0));
    CHECK_FALSE(cache.insert(0, "short", entry("e"), 100, 0, 96));
    CHECK(cache.size() == 2);
  }

  TEST_CASE("re-inserting a key replaces its value and expiry") {
    TokenCache<Entry> cache({4, 0});
    REQUIRE(cache.insert(1, token(1), entry("old"), 50, 0));
    REQUIRE(cache.insert(1, token(1), entry("new"), 200, 0));
    CHECK(cache.size() == 1);
    CHECK(subjectOf(cache.find(1, token(1), 100)) == "new");
  }

  TEST_CASE("an entry already expired, or a zero-sized cache, stores nothing") {
    TokenCache<Entry> cache({4, 0});
    CHECK_FALSE(cache.insert(0, token(1), entry("x"), 100, 100));
    CHECK_FALSE(cache.insert(0, token(1), entry("x"), 100, 101));
    CHECK(cache.size() == 0);
    TokenCache<Entry> none({0, 0});
    CHECK_FALSE(none.insert(0, token(1), entry("x"), 100, 0));
    CHECK(none.find(0, token(1), 0) == nullptr);
  }

  TEST_CASE("erase and clear drop entries; the cache stays usable") {
    TokenCache<Entry> cache({8, 0});
    for (int i = 0; i < 8; ++i) {
      REQUIRE(cache.insert(0, token(i), entry(std::to_string(i)), 100, 0));
    }
    cache.erase(0, token(3));
    CHECK(cache.find(0, token(3), 0) == nullptr);
    CHECK(cache.size() == 7);
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK(cache.bytes() == 0);
    for (int i = 0; i < 8; ++i) {
      CAPTURE(i);
      CHECK(cache.find(0, token(i), 0) == nullptr);
    }
    REQUIRE(cache.insert(0, token(9), entry("nine"), 100, 0));
    CHECK(subjectOf(cache.find(0, token(9), 0)) == "nine");
  }

  TEST_CASE("erasing one provider keeps the others' entries") {
    TokenCache<Entry> cache({16, 0});
    for (int i = 0; i < 12; ++i) {
      REQUIRE(cache.insert(static_cast<std::uint32_t>(i % 3), token(i), entry(std::to_string(i)),
                           100, 0));
    }
    cache.eraseProvider(1);
    CHECK(cache.size() == 8);
    for (int i = 0; i < 12; ++i) {
      CAPTURE(i);
      const Entry* found = cache.find(static_cast<std::uint32_t>(i % 3), token(i), 0);
      CHECK((found != nullptr) == (i % 3 != 1));
    }
  }

  TEST_CASE("a long mixed sequence agrees with a simple reference model") {
    // Deterministic pseudo-random operations on a small cache; the model is a plain vector in
    // most-recently-used order, so probe chains, backward-shift deletion and eviction all get
    // exercised against an independent implementation.
    struct ModelEntry {
      std::uint32_t provider;
      std::string token;
      std::int64_t expires_at;
      std::string subject;
    };
    constexpr std::size_t kCapacity = 13;
    TokenCache<Entry> cache({kCapacity, 0});
    std::vector<ModelEntry> model;
    std::uint64_t state = 12345;
    auto next = [&state] {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      return static_cast<std::uint32_t>(state >> 33);
    };
    std::int64_t now = 0;
    for (int step = 0; step < 5000; ++step) {
      CAPTURE(step);
      const std::uint32_t provider = next() % 2;
      const std::string key = token(static_cast<int>(next() % 40));
      now += next() % 3;
      auto it = std::find_if(model.begin(), model.end(), [&](const ModelEntry& e) {
        return e.provider == provider && e.token == key;
      });
      if (next() % 3 == 0) {
        // Appended rather than "s" + ..., which trips GCC 12's -Wrestrict false positive.
        std::string subject = "s";
        subject += std::to_string(step);
        const std::int64_t expires_at = now + 1 + next() % 30;
        if (it != model.end()) {
          model.erase(it);
        }
        if (model.size() == kCapacity) {
          model.pop_back();
        }
        model.insert(model.begin(), {provider, key, expires_at, subject});
        REQUIRE(cache.insert(provider, key, entry(subject), expires_at, now));
      } else {
        std::string expected = "<miss>";
        if (it != model.end()) {
          if (now >= it->expires_at) {
            model.erase(it);
          } else {
            expected = it->subject;
            ModelEntry moved = *it;
            model.erase(it);
            model.insert(model.begin(), moved);
          }
        }
        REQUIRE(subjectOf(cache.find(provider, key, now)) == expected);
      }
      REQUIRE(cache.size() == model.size());
    }
  }
}

}  // namespace
}  // namespace jwtgate::auth

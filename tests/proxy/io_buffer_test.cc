// Buffers shared by reads and writes: reference counts, reuse, and the read window's moves.
#include "proxy/io_buffer.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

namespace jwtgate::proxy {

TEST_SUITE("proxy/io_buffer") {
  TEST_CASE("released standard buffers are reused, bounded by the cache size") {
    BufferPool pool(1);
    IoBuffer* first = pool.acquire();
    IoBuffer* second = pool.acquire();
    REQUIRE(first != nullptr);
    REQUIRE(second != nullptr);
    pool.release(first);
    pool.release(second);  // beyond the cache: freed
    CHECK(pool.cachedCount() == 1);
    IoBuffer* again = pool.acquire();
    CHECK(again == first);
    CHECK(again->refs == 1);
    pool.release(again);
  }

  TEST_CASE("a buffer lives while any reference does") {
    BufferPool pool(4);
    IoBuffer* buffer = pool.acquire();
    BufferPool::addRef(buffer);
    pool.release(buffer);
    CHECK(pool.cachedCount() == 0);
    CHECK(buffer->refs == 1);
    pool.release(buffer);
    CHECK(pool.cachedCount() == 1);
  }

  TEST_CASE("the window rewinds in place when it is the only holder") {
    BufferPool pool(4);
    ReadWindow window;
    REQUIRE(window.reserve(pool, 16));
    IoBuffer* original = window.buffer;
    window.end = window.buffer->capacity - 8;
    window.start = window.end - 5;
    window.parsed = window.end - 2;
    std::memcpy(window.at(window.start), "hello", 5);
    REQUIRE(window.reserve(pool, 16));
    CHECK(window.buffer == original);
    CHECK(window.start == 0);
    CHECK(window.parsed == 3);
    CHECK(window.end == 5);
    CHECK(std::string(window.at(0), 5) == "hello");
    window.reset(pool);
  }

  TEST_CASE("the window moves to a new buffer while a write still points into the old one") {
    BufferPool pool(4);
    ReadWindow window;
    REQUIRE(window.reserve(pool, 16));
    IoBuffer* original = window.buffer;
    BufferPool::addRef(original);  // a queued write
    window.end = window.buffer->capacity - 8;
    window.start = window.parsed = window.end - 3;
    std::memcpy(window.at(window.start), "abc", 3);
    REQUIRE(window.reserve(pool, 16));
    CHECK(window.buffer != original);
    CHECK(std::string(window.at(window.start), 3) == "abc");
    CHECK(original->refs == 1);
    pool.release(original);
    window.reset(pool);
  }

  TEST_CASE("the window grows for a request head bigger than a standard buffer") {
    BufferPool pool(4);
    ReadWindow window;
    REQUIRE(window.reserve(pool, 16));
    window.end = window.buffer->capacity;
    REQUIRE(window.reserve(pool, 4096));
    CHECK(window.buffer->capacity >= BufferPool::kStandardSize + 4096);
    CHECK(window.live() == BufferPool::kStandardSize);
    window.reset(pool);
  }

  TEST_CASE("an empty window gives its buffer back") {
    BufferPool pool(4);
    ReadWindow window;
    REQUIRE(window.reserve(pool, 16));
    window.end = 10;
    window.releaseIfEmpty(pool);
    CHECK(window.buffer != nullptr);
    window.start = window.parsed = 10;
    window.releaseIfEmpty(pool);
    CHECK(window.buffer == nullptr);
    CHECK(pool.cachedCount() == 1);
  }

  TEST_CASE("scratch space never rewrites committed bytes") {
    BufferPool pool(4);
    ScratchSpace scratch;
    char* first = scratch.reserve(pool, 100);
    REQUIRE(first != nullptr);
    std::memcpy(first, "head", 4);
    scratch.commit(4);
    IoBuffer* held = scratch.buffer;
    BufferPool::addRef(held);  // a write points at "head"
    char* big = scratch.reserve(pool, BufferPool::kStandardSize);
    REQUIRE(big != nullptr);
    CHECK(scratch.buffer != held);
    CHECK(std::string(held->data(), 4) == "head");
    pool.release(held);
    scratch.reset(pool);
  }
}

}  // namespace jwtgate::proxy

// A per-worker cache of verified tokens: a bounded LRU keyed by (provider, exact token bytes),
// each entry dropped at its expiry. Single-threaded by design: one cache per event loop.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jwtgate::auth {

// Non-template pieces of the cache (token_cache.cc).
namespace token_cache_detail {

// A fast non-cryptographic 64-bit hash of (seed, provider, token). Only used to find a
// candidate: every hit is confirmed by comparing the full token bytes.
std::uint64_t keyHash(std::uint64_t seed, std::uint32_t provider, std::string_view token);

// Exact comparison of the full bytes.
bool sameBytes(std::string_view a, std::string_view b);

}  // namespace token_cache_detail

struct TokenCacheLimits {
  std::size_t max_entries = 4096;
  // Sum of the token sizes plus each insert's extra_bytes; 0 means no byte bound.
  std::size_t max_bytes = 16 * 1024 * 1024;
};

struct TokenCacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t expired = 0;  // Lookups that found an entry past its expiry (counted as misses).
  std::uint64_t evicted = 0;  // Entries dropped to make room.
};

// V is the cached value (for jwtgate, the verifier's VerifiedToken or a shared_ptr to it); it
// only needs to be move-constructible. Times are in the caller's units (jwtgate: seconds of the
// injected clock); an entry is live while now < expires_at.
// Memory: slots and the hash index are allocated once at construction; an insert allocates
// at most once (the token copy), and not at all when a recycled slot's string is big enough.
template <typename V>
class TokenCache {
 public:
  explicit TokenCache(TokenCacheLimits limits, std::uint64_t seed = 0x6a77746761746531ULL)
      : limits_(limits), seed_(seed) {
    // NOTE: capped at kMaxEntries so slot numbers fit 32 bits with room to spare.
    const std::size_t wanted =
        limits_.max_entries < kMaxEntries ? limits_.max_entries : kMaxEntries;
    const std::size_t capacity = wanted == 0 ? 1 : wanted;
    slots_.resize(capacity);
    std::size_t buckets = 8;
    while (buckets < capacity * 2) {
      buckets *= 2;
    }
    index_.assign(buckets, kNone);
    for (std::size_t i = 0; i < capacity; ++i) {
      slots_[i].next = i + 1 < capacity ? static_cast<std::uint32_t>(i + 1) : kNone;
    }
    free_ = 0;
  }

  static constexpr std::size_t kMaxEntries = std::size_t{1} << 24;

  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Returns the live entry for (provider, token), marking it most recently used, or nullptr.
  // An entry at or past its expiry is dropped. The pointer stays valid until the next call
  // that changes the cache (find, insert, erase, clear).
  const V* find(std::uint32_t provider, std::string_view token, std::int64_t now) {
    const std::uint64_t hash = token_cache_detail::keyHash(seed_, provider, token);
    const std::size_t bucket = locate(hash, provider, token);
    if (bucket == kNoBucket) {
      ++stats_.misses;
      return nullptr;
    }
    const std::uint32_t slot = index_[bucket];
    if (now >= slots_[slot].expires_at) {
      ++stats_.expired;
      ++stats_.misses;
      removeAt(bucket);
      return nullptr;
    }
    ++stats_.hits;
    moveToFront(slot);
    return &*slots_[slot].value;
  }

  // Stores `value` for (provider, token) until `expires_at`, replacing any previous entry and
  // evicting least recently used entries to stay within the limits. Returns false (and stores
  // nothing) when the entry is already expired or alone exceeds the byte bound.
  bool insert(std::uint32_t provider, std::string_view token, V value, std::int64_t expires_at,
              std::int64_t now, std::size_t extra_bytes = 0) {
    const std::size_t cost = token.size() + extra_bytes;
    if (limits_.max_entries == 0 || now >= expires_at ||
        (limits_.max_bytes != 0 && cost > limits_.max_bytes)) {
      return false;
    }
    const std::uint64_t hash = token_cache_detail::keyHash(seed_, provider, token);
    if (const std::size_t bucket = locate(hash, provider, token); bucket != kNoBucket) {
      removeAt(bucket);
    }

    // Make room, oldest first.
    while (size_ >= slots_.size() ||
           (limits_.max_bytes != 0 && bytes_ + cost > limits_.max_bytes)) {
      assert(tail_ != kNone);
      ++stats_.evicted;
      removeAt(bucketOf(tail_));
    }

    const std::uint32_t slot = free_;
    Slot& entry = slots_[slot];
    free_ = entry.next;
    entry.token.assign(token);
    entry.hash = hash;
    entry.provider = provider;
    entry.expires_at = expires_at;
    entry.cost = cost;
    entry.value.emplace(std::move(value));
    linkFront(slot);
    index_[emptyBucketFor(hash)] = slot;
    ++size_;
    bytes_ += cost;
    return true;
  }

  // Drops the entry for (provider, token) if present.
  void erase(std::uint32_t provider, std::string_view token) {
    const std::uint64_t hash = token_cache_detail::keyHash(seed_, provider, token);
    if (const std::size_t bucket = locate(hash, provider, token); bucket != kNoBucket) {
      removeAt(bucket);
    }
  }

  // Drops every entry of one provider (its keys or policy changed: a token verified with a
  // key that is now gone must be verified again). Walks the whole LRU list.
  void eraseProvider(std::uint32_t provider) {
    for (std::uint32_t slot = head_; slot != kNone;) {
      const std::uint32_t next = slots_[slot].next;
      if (slots_[slot].provider == provider) {
        removeAt(bucketOf(slot));
      }
      slot = next;
    }
  }

  // Drops every entry (for example when the configuration is reloaded).
  void clear() {
    while (head_ != kNone) {
      removeAt(bucketOf(head_));
    }
  }

  std::size_t size() const { return size_; }
  std::size_t bytes() const { return bytes_; }
  const TokenCacheStats& stats() const { return stats_; }

 private:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  static constexpr std::size_t kNoBucket = ~std::size_t{0};

  struct Slot {
    std::string token;
    std::uint64_t hash = 0;
    std::uint32_t provider = 0;
    std::int64_t expires_at = 0;
    std::size_t cost = 0;
    std::uint32_t prev = kNone;  // Towards the most recently used.
    std::uint32_t next = kNone;  // Towards the least recently used; the free list when unused.
    std::optional<V> value;
  };

  std::size_t mask() const { return index_.size() - 1; }
  std::size_t home(std::uint64_t hash) const { return static_cast<std::size_t>(hash) & mask(); }

  // Linear probing; the index is at most half full, so a probe ends at an empty bucket.
  std::size_t locate(std::uint64_t hash, std::uint32_t provider, std::string_view token) const {
    for (std::size_t b = home(hash);; b = (b + 1) & mask()) {
      const std::uint32_t slot = index_[b];
      if (slot == kNone) {
        return kNoBucket;
      }
      const Slot& entry = slots_[slot];
      if (entry.hash == hash && entry.provider == provider &&
          token_cache_detail::sameBytes(entry.token, token)) {
        return b;
      }
    }
  }

  std::size_t bucketOf(std::uint32_t slot) const {
    for (std::size_t b = home(slots_[slot].hash);; b = (b + 1) & mask()) {
      if (index_[b] == slot) {
        return b;
      }
    }
  }

  std::size_t emptyBucketFor(std::uint64_t hash) const {
    std::size_t b = home(hash);
    while (index_[b] != kNone) {
      b = (b + 1) & mask();
    }
    return b;
  }

  // Frees the slot in `bucket` and closes the probe gap (backward-shift deletion).
  void removeAt(std::size_t bucket) {
    const std::uint32_t slot = index_[bucket];
    Slot& entry = slots_[slot];
    unlink(slot);
    entry.value.reset();
    size_ -= 1;
    bytes_ -= entry.cost;
    entry.next = free_;
    free_ = slot;

    std::size_t hole = bucket;
    for (std::size_t b = (hole + 1) & mask(); index_[b] != kNone; b = (b + 1) & mask()) {
      const std::size_t wanted = home(slots_[index_[b]].hash);
      // Move the entry back when its home is not cyclically inside (hole, b].
      if (((b - wanted) & mask()) >= ((b - hole) & mask())) {
        index_[hole] = index_[b];
        hole = b;
      }
    }
    index_[hole] = kNone;
  }

  void unlink(std::uint32_t slot) {
    Slot& entry = slots_[slot];
    if (entry.prev != kNone) {
      slots_[entry.prev].next = entry.next;
    } else {
      head_ = entry.next;
    }
    if (entry.next != kNone) {
      slots_[entry.next].prev = entry.prev;
    } else {
      tail_ = entry.prev;
    }
    entry.prev = kNone;
    entry.next = kNone;
  }

  void linkFront(std::uint32_t slot) {
    Slot& entry = slots_[slot];
    entry.prev = kNone;
    entry.next = head_;
    if (head_ != kNone) {
      slots_[head_].prev = slot;
    } else {
      tail_ = slot;
    }
    head_ = slot;
  }

  void moveToFront(std::uint32_t slot) {
    if (head_ != slot) {
      unlink(slot);
      linkFront(slot);
    }
  }

  TokenCacheLimits limits_;
  std::uint64_t seed_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> index_;  // Slot numbers, kNone for empty buckets.
  std::uint32_t head_ = kNone;        // Most recently used.
  std::uint32_t tail_ = kNone;        // Least recently used.
  std::uint32_t free_ = kNone;
  std::size_t size_ = 0;
  std::size_t bytes_ = 0;
  TokenCacheStats stats_;
};

}  // namespace jwtgate::auth

// Reads the small local files jwtgate is configured with (the configuration, key files):
// regular files only, of a bounded size, so that a path to a device or a FIFO can neither
// hang start-up nor fill memory.
#pragma once

#include <cstddef>
#include <string>

#include "verifier/result.h"

namespace jwtgate::auth {

// NOTE: the same cap as a remote key fetch's default `max_bytes` (jwks/http_fetcher.h): a
// key set that would be refused over the network is refused from a file too. Real key files
// are a few KiB.
inline constexpr std::size_t kMaxKeyFileBytes = 1024 * 1024;

// NOTE: a configuration is a few KiB even with many routes; 4 MiB leaves room for inline
// key sets while bounding what a wrong path (a log, an image) makes the loader parse.
inline constexpr std::size_t kMaxConfigFileBytes = 4 * 1024 * 1024;

// Reads the whole of the file at `path` when it is a regular file of at most `max_bytes`.
// Fails, with a reason that does not repeat the path (the caller names the file), when the
// file is missing or unreadable, is not a regular file (a directory, device, FIFO or
// socket: refused before any byte is read, so a FIFO never blocks), or is larger than
// `max_bytes` (also when it grows while being read). Throws nothing.
Result<std::string, std::string> readLocalFile(const std::string& path, std::size_t max_bytes);

// "1 MiB", "4 MiB", "512 KiB" or "N bytes": a size cap for an error message.
std::string describeSize(std::size_t bytes);

}  // namespace jwtgate::auth

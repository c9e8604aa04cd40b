// A strictly validated JSON object, read once with simdjson On-Demand into a flat,
// offset-based index of its values (no copy of the text), so that claims can be looked up
// later without a parser. Shared by the header and payload steps of the verifier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jwtgate::verifier {

enum class JsonKind : std::uint8_t { Null, Boolean, Number, String, Array, Object };

// One value of a document, in depth-first order (a container precedes its children).
// Offsets point into the document's text space (see JsonText).
struct JsonNode {
  std::uint32_t key_offset = 0;  // Member name, unescaped; empty for elements and the root.
  std::uint32_t key_length = 0;
  std::uint32_t text_offset = 0;  // String: the unescaped value. Number: its JSON text.
  std::uint32_t text_length = 0;  // Boolean: 1 for true, 0 for false.
  std::uint32_t next = 0;         // Index one past this node's subtree: its next sibling.
  std::uint32_t children = 0;     // Members (Object) or elements (Array).
  JsonKind kind = JsonKind::Null;
};

// Where a document's offsets point: [0, input_size) is the decoded JSON text itself, and
// [input_size, ...) the arena holding the strings that had escapes. Both must stay alive
// and unmoved while the view is used.
struct JsonText {
  const char* input = nullptr;
  std::uint32_t input_size = 0;
  const char* arena = nullptr;

  std::string_view at(std::uint32_t offset, std::uint32_t length) const {
    return offset < input_size ? std::string_view(input + offset, length)
                               : std::string_view(arena + (offset - input_size), length);
  }
};

// A document: its nodes (node 0 is the root object) and its text. Non-owning.
struct JsonDocument {
  const JsonNode* nodes = nullptr;
  std::uint32_t node_count = 0;
  JsonText text;
};

enum class JsonError : std::uint8_t {
  NotJson,          // Not JSON, not an object at the top, trailing bytes, or invalid UTF-8.
  DuplicateMember,  // An object repeats a member name (compared after unescaping).
  TooDeep,          // More nested arrays/objects than the limit allows.
};

// NOTE: depth is capped here whatever the configuration says, to bound recursion.
inline constexpr std::size_t kMaxJsonDepthCap = 64;

// The bytes simdjson may read past the end of the input; a buffer passed to read() must
// have at least this many readable bytes after the text.
std::size_t jsonPadding();

// Reads documents with one reusable simdjson parser. Thread-compatible: one per thread.
class JsonReader {
 public:
  JsonReader();
  ~JsonReader();
  JsonReader(const JsonReader&) = delete;
  JsonReader& operator=(const JsonReader&) = delete;
  JsonReader(JsonReader&&) noexcept;
  JsonReader& operator=(JsonReader&&) noexcept;

  // Validates `data[0, size)` (followed by jsonPadding() readable bytes) as one JSON object
  // with no duplicate member at any level and at most `max_depth` nested containers (the
  // root counts as 1; capped at kMaxJsonDepthCap). On success fills `nodes` and `arena`
  // (cleared first) and returns nothing; offsets into the input are relative to `data`.
  // On failure returns the error; `nodes` and `arena` then hold garbage.
  // Nothing returned refers to the parser, so results outlive the next call.
  std::optional<JsonError> read(const char* data, std::size_t size, std::size_t max_depth,
                                std::vector<JsonNode>& nodes, std::string& arena);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True if `text` is exactly one JSON number (RFC 8259 section 6), without whitespace.
bool isJsonNumber(std::string_view text);

// Appends `text` as a JSON string literal: quotes, backslash, control characters and DEL
// escaped, everything else (valid UTF-8) copied as is.
void appendJsonString(std::string& out, std::string_view text);

}  // namespace jwtgate::verifier

// Reads a JSON object with simdjson On-Demand, visiting every value once so that the whole
// text is validated, and records each value's offsets in a flat node index.
#include "verifier/json_document.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

namespace jwtgate::verifier {
namespace {

namespace od = simdjson::ondemand;

// Objects with at most this many members are checked for duplicates pairwise; larger ones
// are sorted so that a hostile object of thousands of members costs n log n, not n^2.
constexpr std::size_t kPairwiseDuplicateLimit = 16;

// A member name with a cheap fingerprint, so duplicate checks rarely compare bytes (JWT
// claim names are mostly three letters long and would all reach memcmp).
struct KeyEntry {
  std::uint64_t hash;
  std::string_view name;
};

std::uint64_t fingerprint(std::string_view name) {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::memcpy(&head, name.data(), std::min<std::size_t>(name.size(), 8));
  if (name.size() > 8) {
    const std::size_t n = std::min<std::size_t>(name.size() - 8, 8);
    std::memcpy(&tail, name.data() + name.size() - n, n);
  }
  return (head * 0x9e3779b97f4a7c15ull) ^ (tail + name.size() * 0xc2b2ae3d27d4eb4full);
}

bool hasDuplicate(std::vector<KeyEntry>& keys, std::size_t first) {
  const std::size_t count = keys.size() - first;
  if (count < 2) {
    return false;
  }
  auto begin = keys.begin() + static_cast<std::ptrdiff_t>(first);
  if (count <= kPairwiseDuplicateLimit) {
    for (auto i = begin; i != keys.end(); ++i) {
      for (auto j = i + 1; j != keys.end(); ++j) {
        if (i->hash == j->hash && i->name == j->name) {
          return true;
        }
      }
    }
    return false;
  }
  std::sort(begin, keys.end(), [](const KeyEntry& a, const KeyEntry& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.name < b.name;
  });
  return std::adjacent_find(begin, keys.end(), [](const KeyEntry& a, const KeyEntry& b) {
           return a.hash == b.hash && a.name == b.name;
         }) != keys.end();
}

std::string_view trimTrailingSpace(std::string_view token) {
  while (!token.empty()) {
    const char c = token.back();
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      break;
    }
    token.remove_suffix(1);
  }
  return token;
}

// The text of a string whose raw bytes start at `raw` (after the opening quote), when it
// has no escapes: the bytes up to the closing quote. nullopt when a backslash comes first.
// Stage 1 has already checked that every string is terminated inside the input, has valid
// UTF-8 and no raw control characters, so such bytes are the string's exact value.
std::optional<std::string_view> plainString(const char* raw) {
  const char* p = raw;
  while (*p != '"' && *p != '\\') {
    ++p;
  }
  if (*p == '\\') {
    return std::nullopt;
  }
  return std::string_view(raw, static_cast<std::size_t>(p - raw));
}

}  // namespace

struct JsonReader::Impl {
  od::parser parser;
  std::vector<KeyEntry> keys;  // Names of the open objects' members (a stack).

  // Per-read state.
  const char* base = nullptr;
  std::uint32_t input_size = 0;
  std::size_t max_depth = 0;
  std::vector<JsonNode>* nodes = nullptr;
  std::string* arena = nullptr;

  std::uint32_t offsetOf(const char* p) const { return static_cast<std::uint32_t>(p - base); }

  // Copies unescaped text (which lives in the parser's buffer) into the arena.
  std::uint32_t toArena(std::string_view text) {
    const auto offset = static_cast<std::uint32_t>(input_size + arena->size());
    arena->append(text);
    return offset;
  }

  // The node for a new value, appended in place: large structs passed by value through the
  // recursion showed up as store-forwarding stalls.
  std::size_t addNode(std::uint32_t key_offset, std::uint32_t key_length) {
    const std::size_t index = nodes->size();
    JsonNode& node = nodes->emplace_back();
    node.key_offset = key_offset;
    node.key_length = key_length;
    node.next = static_cast<std::uint32_t>(index + 1);
    return index;
  }

  std::optional<JsonError> walkValue(od::value& value, std::size_t depth, std::uint32_t key_offset,
                                     std::uint32_t key_length);
  std::optional<JsonError> walkObject(od::object& object, std::size_t depth, std::size_t index);
  std::optional<JsonError> walkArray(od::array& array, std::size_t depth, std::size_t index);
  std::optional<JsonError> walkScalar(od::value& value, std::string_view token, std::size_t index);
};

std::optional<JsonError> JsonReader::Impl::walkObject(od::object& object, std::size_t depth,
                                                      std::size_t index) {
  const std::size_t first_key = keys.size();
  std::uint32_t count = 0;
  for (auto member : object) {
    od::field field;
    if (std::move(member).get(field) != simdjson::SUCCESS) {
      return JsonError::NotJson;
    }

    // A name without escapes is used in place; one with escapes is unescaped (and its
    // escapes validated) by simdjson, then copied.
    const char* raw_key = field.key().raw();
    std::string_view key;
    std::uint32_t key_offset = 0;
    if (const std::optional<std::string_view> plain = plainString(raw_key)) {
      key = *plain;
      key_offset = offsetOf(raw_key);
    } else {
      if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
        return JsonError::NotJson;
      }
      key_offset = toArena(key);
    }
    keys.push_back(KeyEntry{fingerprint(key), key});

    if (auto error =
            walkValue(field.value(), depth, key_offset, static_cast<std::uint32_t>(key.size()))) {
      return error;
    }
    ++count;
  }

  // Duplicates: RFC 7515 section 4 and RFC 7519 section 4 let a parser reject them, and
  // accepting them invites two components to read two different values.
  if (hasDuplicate(keys, first_key)) {
    return JsonError::DuplicateMember;
  }
  keys.resize(first_key);
  (*nodes)[index].children = count;
  (*nodes)[index].next = static_cast<std::uint32_t>(nodes->size());
  return std::nullopt;
}

std::optional<JsonError> JsonReader::Impl::walkArray(od::array& array, std::size_t depth,
                                                     std::size_t index) {
  std::uint32_t count = 0;
  for (auto element : array) {
    od::value value;
    if (std::move(element).get(value) != simdjson::SUCCESS) {
      return JsonError::NotJson;
    }
    if (auto error = walkValue(value, depth, 0, 0)) {
      return error;
    }
    ++count;
  }
  (*nodes)[index].children = count;
  (*nodes)[index].next = static_cast<std::uint32_t>(nodes->size());
  return std::nullopt;
}

// A string, number, boolean or null, judged from its raw token (the value text plus any
// whitespace up to the next structural character).
std::optional<JsonError> JsonReader::Impl::walkScalar(od::value& value, std::string_view token,
                                                      std::size_t index) {
  JsonNode& node = (*nodes)[index];
  if (token[0] == '"') {
    node.kind = JsonKind::String;
    const char* raw = token.data() + 1;
    if (const std::optional<std::string_view> plain = plainString(raw)) {
      node.text_offset = offsetOf(raw);
      node.text_length = static_cast<std::uint32_t>(plain->size());
      return std::nullopt;
    }
    std::string_view text;
    if (value.get_string().get(text) != simdjson::SUCCESS) {
      return JsonError::NotJson;  // A bad escape or a lone surrogate.
    }
    node.text_offset = toArena(text);
    node.text_length = static_cast<std::uint32_t>(text.size());
    return std::nullopt;
  }

  // Other scalars are checked against the grammar here; simdjson's first stage only split
  // them at structural characters and whitespace ("truex" and "01" are single tokens).
  token = trimTrailingSpace(token);
  if (token == "true" || token == "false") {
    node.kind = JsonKind::Boolean;
    node.text_length = token[0] == 't' ? 1 : 0;
  } else if (token == "null") {
    node.kind = JsonKind::Null;
  } else if (isJsonNumber(token)) {
    // The value is converted only when a claim is read.
    node.kind = JsonKind::Number;
    node.text_offset = offsetOf(token.data());
    node.text_length = static_cast<std::uint32_t>(token.size());
  } else {
    return JsonError::NotJson;
  }
  return std::nullopt;
}

// Visits one value (a member or element of a container at `depth`), fully validating it.
std::optional<JsonError> JsonReader::Impl::walkValue(od::value& value, std::size_t depth,
                                                     std::uint32_t key_offset,
                                                     std::uint32_t key_length) {
  const std::string_view token = value.raw_json_token();
  if (token.empty()) {
    return JsonError::NotJson;
  }
  if (token[0] != '{' && token[0] != '[') {
    return walkScalar(value, token, addNode(key_offset, key_length));
  }

  if (depth + 1 > max_depth) {
    return JsonError::TooDeep;
  }
  const std::size_t index = addNode(key_offset, key_length);
  if (token[0] == '{') {
    (*nodes)[index].kind = JsonKind::Object;
    od::object object;
    if (value.get_object().get(object) != simdjson::SUCCESS) {
      return JsonError::NotJson;
    }
    return walkObject(object, depth + 1, index);
  }
  (*nodes)[index].kind = JsonKind::Array;
  od::array array;
  if (value.get_array().get(array) != simdjson::SUCCESS) {
    return JsonError::NotJson;
  }
  return walkArray(array, depth + 1, index);
}

std::size_t jsonPadding() { return simdjson::SIMDJSON_PADDING; }

JsonReader::JsonReader() : impl_(std::make_unique<Impl>()) {}
JsonReader::~JsonReader() = default;
JsonReader::JsonReader(JsonReader&&) noexcept = default;
JsonReader& JsonReader::operator=(JsonReader&&) noexcept = default;

std::optional<JsonError> JsonReader::read(const char* data, std::size_t size, std::size_t max_depth,
                                          std::vector<JsonNode>& nodes, std::string& arena) {
  nodes.clear();
  arena.clear();
  impl_->keys.clear();
  impl_->base = data;
  impl_->input_size = static_cast<std::uint32_t>(size);
  impl_->max_depth = std::min(max_depth, kMaxJsonDepthCap);
  impl_->nodes = &nodes;
  impl_->arena = &arena;
  if (impl_->max_depth == 0 || size > UINT32_MAX / 2) {
    return impl_->max_depth == 0 ? JsonError::TooDeep : JsonError::NotJson;
  }

  // iterate() runs simdjson's first stage over the whole input, which rejects invalid
  // UTF-8 and unescaped control characters inside strings.
  od::document document;
  if (impl_->parser.iterate(data, size, size + simdjson::SIMDJSON_PADDING).get(document) !=
      simdjson::SUCCESS) {
    return JsonError::NotJson;
  }
  od::object root;
  if (document.get_object().get(root) != simdjson::SUCCESS) {
    return JsonError::NotJson;
  }
  JsonNode root_node;
  root_node.kind = JsonKind::Object;
  nodes.push_back(root_node);
  if (auto error = impl_->walkObject(root, 1, 0)) {
    return error;
  }

  // On-Demand stops after the root object; anything but whitespace after it is an error.
  const char* location = nullptr;
  if (document.current_location().get(location) == simdjson::SUCCESS) {
    return JsonError::NotJson;
  }
  return std::nullopt;
}

bool isJsonNumber(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto digit = [&](std::size_t at) { return at < n && text[at] >= '0' && text[at] <= '9'; };

  if (i < n && text[i] == '-') {
    ++i;
  }
  // Integer part: 0, or a non-zero digit followed by digits (no leading zeros).
  if (!digit(i)) {
    return false;
  }
  if (text[i] == '0') {
    ++i;
  } else {
    while (digit(i)) {
      ++i;
    }
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      ++i;
    }
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) {
      ++i;
    }
    if (!digit(i)) {
      return false;
    }
    while (digit(i)) {
      ++i;
    }
  }
  return i == n;
}

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte == 0x7f) {  // DEL too: the output may become a header.
      out.append("\\u00");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace jwtgate::verifier

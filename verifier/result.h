// A value-or-error result for code that must not throw (the request path and the verifier).
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace jwtgate {

// Tags the error alternative so that Result<T, E> works even when T and E are the same type.
template <typename E>
struct Err {
  E error;
};

template <typename E>
Err<std::decay_t<E>> makeError(E&& error) {
  return Err<std::decay_t<E>>{std::forward<E>(error)};
}

// Holds either a T or an E. Reading the wrong alternative is a programming error (asserted).
template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  Result(Err<E> error) : storage_(std::in_place_index<1>, std::move(error.error)) {}

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return *std::get_if<0>(&storage_);
  }
  const T& value() const& {
    assert(ok());
    return *std::get_if<0>(&storage_);
  }
  T&& value() && {
    assert(ok());
    return std::move(*std::get_if<0>(&storage_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    assert(!ok());
    return *std::get_if<1>(&storage_);
  }

 private:
  std::variant<T, E> storage_;
};

}  // namespace jwtgate

// A doubly linked list threaded through its elements, so that linking and unlinking a
// connection never allocates. Elements are not owned by the list.
#pragma once

#include <cstddef>

namespace jwtgate::proxy {

template <typename T>
struct ListLink {
  T* prev = nullptr;
  T* next = nullptr;
  bool linked = false;
};

template <typename T, ListLink<T> T::*Link>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  T* front() const { return head_; }
  T* back() const { return tail_; }
  static T* next(T* item) { return (item->*Link).next; }
  static bool contains(const T* item) { return (item->*Link).linked; }

  void pushFront(T* item) {
    ListLink<T>& link = item->*Link;
    link.prev = nullptr;
    link.next = head_;
    link.linked = true;
    if (head_ != nullptr) {
      (head_->*Link).prev = item;
    } else {
      tail_ = item;
    }
    head_ = item;
    ++size_;
  }

  void pushBack(T* item) {
    ListLink<T>& link = item->*Link;
    link.prev = tail_;
    link.next = nullptr;
    link.linked = true;
    if (tail_ != nullptr) {
      (tail_->*Link).next = item;
    } else {
      head_ = item;
    }
    tail_ = item;
    ++size_;
  }

  // Unlinks `item`; does nothing when it is not linked.
  void remove(T* item) {
    ListLink<T>& link = item->*Link;
    if (!link.linked) {
      return;
    }
    if (link.prev != nullptr) {
      (link.prev->*Link).next = link.next;
    } else {
      head_ = link.next;
    }
    if (link.next != nullptr) {
      (link.next->*Link).prev = link.prev;
    } else {
      tail_ = link.prev;
    }
    link = ListLink<T>();
    --size_;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace jwtgate::proxy

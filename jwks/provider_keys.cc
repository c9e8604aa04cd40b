// Publication of a provider's keys and key state.
#include "jwks/provider_keys.h"

namespace jwtgate::jwks {

std::string_view toString(KeyAvailability availability) {
  switch (availability) {
    case KeyAvailability::Loading:
      return "loading";
    case KeyAvailability::Fresh:
      return "fresh";
    case KeyAvailability::Stale:
      return "stale";
    case KeyAvailability::Unavailable:
      return "unavailable";
    case KeyAvailability::Expired:
      return "expired";
  }
  return "unknown";
}

std::string_view describe(KeyAvailability availability) {
  switch (availability) {
    case KeyAvailability::Loading:
      return "The keys of the token's issuer are still being fetched";
    case KeyAvailability::Fresh:
    case KeyAvailability::Stale:
      return "The keys of the token's issuer are available";
    case KeyAvailability::Unavailable:
      return "The keys of the token's issuer could not be fetched";
    case KeyAvailability::Expired:
      return "The keys of the token's issuer expired and could not be refreshed";
  }
  return "The keys of the token's issuer are unavailable";
}

std::string_view toString(FetchOutcome outcome) {
  switch (outcome) {
    case FetchOutcome::Ok:
      return "ok";
    case FetchOutcome::HttpError:
      return "http_error";
    case FetchOutcome::NetworkError:
      return "network_error";
    case FetchOutcome::Timeout:
      return "timeout";
    case FetchOutcome::Tls:
      return "tls";
    case FetchOutcome::TooLarge:
      return "too_large";
    case FetchOutcome::Invalid:
      return "invalid";
  }
  return "invalid";
}

void ProviderKeys::publish(std::shared_ptr<const verifier::KeySet> keys,
                           KeyAvailability availability) {
  // The set first, then the state and version, so a reader that sees either sees the set.
  keys_.store(keys, std::memory_order_release);
  setAvailability(availability);
  keys_version_.fetch_add(1, std::memory_order_acq_rel);
  if (listener_) {
    listener_(keys);
  }
}

}  // namespace jwtgate::jwks

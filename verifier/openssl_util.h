// Owning pointers for the OpenSSL objects the key and signature layers use (verifier-private).
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

namespace jwtgate::verifier {

template <typename T, void (*Free)(T*)>
struct OpensslDeleter {
  void operator()(T* object) const { Free(object); }
};

using BignumPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BIGNUM, BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslDeleter<BIO, BIO_free_all>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using EvpMdPtr = std::unique_ptr<EVP_MD, OpensslDeleter<EVP_MD, EVP_MD_free>>;
using EvpMacPtr = std::unique_ptr<EVP_MAC, OpensslDeleter<EVP_MAC, EVP_MAC_free>>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, OpensslDeleter<EVP_MAC_CTX, EVP_MAC_CTX_free>>;
using EvpPkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX, OpensslDeleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using OsslParamBldPtr =
    std::unique_ptr<OSSL_PARAM_BLD, OpensslDeleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using OsslParamPtr = std::unique_ptr<OSSL_PARAM, OpensslDeleter<OSSL_PARAM, OSSL_PARAM_free>>;

}  // namespace jwtgate::verifier

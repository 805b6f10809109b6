#pragma once

// A throw-away PKI for TLS tests, made once per test process with the openssl command line into a
// private temp directory (removed at exit). Keys are EC P-256 (fast to generate); every file is
// PEM.

#include <string>

#include <asio/ssl/context.hpp>

namespace fetchd::test {

struct TestPki {
  struct Leaf {
    std::string cert;   // the leaf certificate alone
    std::string key;    // its private key (PKCS#8)
    std::string chain;  // the leaf followed by the CA that signed it, as a server presents it
  };

  std::string ca_cert;  // the CA tests trust (TlsOptions::ca_file)
  std::string ca_key;
  std::string unknown_ca_cert;  // a second CA that tests do not trust

  // Each leaf is signed by `ca_cert` unless named otherwise and, unless named otherwise, is valid
  // now for DNS:localhost, IP:127.0.0.1 and IP:::1.
  Leaf valid;
  Leaf wrong_host;  // DNS:other.test only
  Leaf expired;     // valid 2020-01-01 to 2020-01-02 only
  Leaf unknown_ca;  // signed by `unknown_ca_cert`
};

// Generates the PKI on first use (thread-safe; a failed attempt is retried on the next call).
// Throws std::runtime_error with the failing command and its output.
const TestPki& test_pki();

// A TLS server context presenting `leaf` (with its chain). Throws std::system_error on failure.
asio::ssl::context make_server_context(const TestPki::Leaf& leaf);

}  // namespace fetchd::test

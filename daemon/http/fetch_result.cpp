#include "http/fetch_result.h"

namespace fetchd::http {

std::string_view to_string(ErrorClass error_class) {
  switch (error_class) {
    case ErrorClass::none:
      return "ok";
    case ErrorClass::dns:
      return "dns";
    case ErrorClass::connect:
      return "connect";
    case ErrorClass::timeout:
      return "timeout";
    case ErrorClass::tls:
      return "tls";
    case ErrorClass::protocol:
      return "protocol";
    case ErrorClass::too_large:
      return "too_large";
    case ErrorClass::io:
      return "io";
    case ErrorClass::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::resolve:
      return "resolve";
    case Phase::connect:
      return "connect";
    case Phase::tls_handshake:
      return "tls_handshake";
    case Phase::write_request:
      return "write_request";
    case Phase::read_headers:
      return "read_headers";
    case Phase::read_body:
      return "read_body";
  }
  return "unknown";
}

}  // namespace fetchd::http

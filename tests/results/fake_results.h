#pragma once

// Hand-made fetch results for the results tests: no network, exact times and timings.

#include <chrono>
#include <string>

#include "http/fetch_result.h"
#include "results/target_results.h"

namespace fetchd::results::test {

using Time = std::chrono::system_clock::time_point;
using std::chrono::microseconds;

// 2024-05-01T12:00:00Z
inline const Time kEpoch = Time(std::chrono::seconds(1'714'564'800));

inline http::FetchResult ok_result(Time started, int status = 200, std::string reason = "OK",
                                   microseconds total = microseconds(1500)) {
  http::FetchResult result;
  result.started = started;
  result.total = total;
  http::Hop hop;
  hop.remote_address = "10.0.0.1:443";
  hop.version_major = 1;
  hop.version_minor = 1;
  hop.status = status;
  hop.reason = std::move(reason);
  hop.headers = {{"Server", "nginx"}, {"Content-Type", "text/html"}};
  hop.body_bytes = 5;
  hop.body = "hello";
  hop.timings.dns = microseconds(100);
  hop.timings.connect = microseconds(200);
  hop.timings.tls_handshake = microseconds(700);
  hop.timings.first_byte = microseconds(400);
  hop.timings.total = total;
  result.hops.push_back(std::move(hop));
  return result;
}

inline http::FetchResult error_result(
    Time started, http::ErrorClass error_class = http::ErrorClass::connect,
    std::string message = "connect to 10.0.0.1:443: Connection refused",
    microseconds total = microseconds(300)) {
  http::FetchResult result;
  result.started = started;
  result.total = total;
  http::Hop hop;
  hop.error = http::FetchError{error_class, http::Phase::connect, std::move(message)};
  hop.timings.dns = microseconds(100);
  hop.timings.total = total;
  result.hops.push_back(std::move(hop));
  return result;
}

inline Attempt success(Time started, microseconds total = microseconds(1500)) {
  return Attempt{ok_result(started, 200, "OK", total), ""};
}
inline Attempt failure(Time started) {
  return Attempt{error_result(started), ""};
}
inline Attempt expectation_failure(Time started, std::string what) {
  return Attempt{ok_result(started, 500, "Internal Server Error"), std::move(what)};
}
inline Attempt cancelled(Time started) {
  return Attempt{error_result(started, http::ErrorClass::cancelled, "cancelled during connect"),
                 ""};
}

}  // namespace fetchd::results::test

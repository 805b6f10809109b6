#include "support/test_pki.h"

#include <cerrno>
#include <chrono>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <initializer_list>
#include <spawn.h>
#include <stdexcept>
#include <string_view>
#include <sys/wait.h>
#include <system_error>
#include <time.h>
#include <vector>

#include "common/read_file.h"
#include "support/temp_dir.h"

extern char** environ;

namespace fetchd::test {
namespace {

namespace fs = std::filesystem;

// One config for both CAs and every leaf: `openssl req` reads [req], `openssl ca` reads [ca] and
// the extension section named on its command line. Both CAs share one database (`openssl ca` needs
// one; unique_subject = no lets them issue the same subject).
constexpr std::string_view kConfig = R"(
[ req ]
distinguished_name = dn
prompt = no

[ dn ]
CN = unused

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ca ]
default_ca = test_ca

[ test_ca ]
database = index.txt
serial = serial
new_certs_dir = issued
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied

[ leaf_localhost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[ leaf_other_host ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:other.test
)";

// Runs `openssl args...` in `dir` (argv, no shell, so nothing needs quoting); throws with the
// command line and its output unless it exits 0.
void openssl(const fs::path& dir, std::initializer_list<std::string> args) {
  std::vector<std::string> argv_strings{"openssl"};
  argv_strings.insert(argv_strings.end(), args);
  std::vector<char*> argv;
  for (auto& arg : argv_strings) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  const fs::path log = dir / "openssl.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int spawn_error = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);

  std::string command_line;
  for (const auto& arg : argv_strings) {
    command_line.append(command_line.empty() ? "" : " ").append(arg);
  }
  if (spawn_error != 0) {
    throw std::system_error(spawn_error, std::generic_category(), "spawn " + command_line);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "waitpid " + command_line);
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("test PKI: `" + command_line + "` failed (status " +
                             std::to_string(status) + "):\n" + read_file(log).value_or(""));
  }
}

void make_ca(const fs::path& dir, const std::string& name, const std::string& common_name) {
  openssl(dir, {"req",
                "-config",
                "pki.cnf",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-sha256",
                "-days",
                "3650",
                "-extensions",
                "ca_ext",
                "-subj",
                "/CN=" + common_name,
                "-keyout",
                name + ".key",
                "-out",
                name + ".pem"});
}

// `openssl ca -startdate/-enddate` form (GeneralizedTime, UTC).
std::string asn1_time(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &utc);
  return text;
}

// Signed with `openssl ca`, which takes explicit dates: that is how a certificate valid only in
// the past is made (OpenSSL 3.0's `x509 -req` has no -not_before/-not_after).
TestPki::Leaf make_leaf(const fs::path& dir, const std::string& name, const std::string& ca,
                        const std::string& extensions, std::chrono::system_clock::time_point start,
                        std::chrono::system_clock::time_point end) {
  openssl(dir, {"req", "-config", "pki.cnf", "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=fetchd test " + name, "-keyout",
                name + ".key", "-out", name + ".csr"});
  openssl(dir, {"ca", "-config", "pki.cnf", "-batch", "-notext", "-cert", ca + ".pem", "-keyfile",
                ca + ".key", "-extensions", extensions, "-startdate", asn1_time(start), "-enddate",
                asn1_time(end), "-in", name + ".csr", "-out", name + ".pem"});
  write_file(dir / (name + "-chain.pem"), read_file(dir / (name + ".pem")).value_or("") +
                                              read_file(dir / (ca + ".pem")).value_or(""));
  return {(dir / (name + ".pem")).string(), (dir / (name + ".key")).string(),
          (dir / (name + "-chain.pem")).string()};
}

// The PKI and the directory holding it, destroyed together at exit.
struct PkiHolder {
  TempDir dir{"fetchd-pki"};
  TestPki pki = generate(dir.path());

  static TestPki generate(const fs::path& dir) {
    write_file(dir / "pki.cnf", kConfig);
    write_file(dir / "index.txt", "");
    write_file(dir / "serial", "1000\n");
    fs::create_directory(dir / "issued");

    make_ca(dir, "ca", "fetchd test CA");
    make_ca(dir, "unknown-ca", "fetchd unknown test CA");
    // Valid from an hour back, so that "now" read just before generation is inside the validity;
    // for ten years, so that no test run outlives it.
    using namespace std::chrono_literals;
    const auto now = std::chrono::system_clock::now();
    const auto start = now - 1h;
    const auto end = now + 24h * 3650;
    // 2020-01-01 to 2020-01-02.
    const auto past_start = std::chrono::sys_days{std::chrono::year{2020} / 1 / 1};
    const auto past_end = past_start + 24h;
    TestPki pki;
    pki.ca_cert = (dir / "ca.pem").string();
    pki.ca_key = (dir / "ca.key").string();
    pki.unknown_ca_cert = (dir / "unknown-ca.pem").string();
    pki.valid = make_leaf(dir, "valid", "ca", "leaf_localhost", start, end);
    pki.wrong_host = make_leaf(dir, "wrong-host", "ca", "leaf_other_host", start, end);
    pki.expired = make_leaf(dir, "expired", "ca", "leaf_localhost", past_start, past_end);
    pki.unknown_ca = make_leaf(dir, "unknown-ca-leaf", "unknown-ca", "leaf_localhost", start, end);
    return pki;
  }
};

}  // namespace

const TestPki& test_pki() {
  static const PkiHolder holder;
  return holder.pki;
}

asio::ssl::context make_server_context(const TestPki::Leaf& leaf) {
  asio::ssl::context context(asio::ssl::context::tls_server);
  context.use_certificate_chain_file(leaf.chain);
  context.use_private_key_file(leaf.key, asio::ssl::context::pem);
  return context;
}

}  // namespace fetchd::test

// Real servers for the remote tests, started on loopback by the test itself: nginx (HTTP
// ranges, as Debian ships it), moto's S3 server (SigV4 checked, with a user and buckets
// made by moto_setup.py) and misbehaving_server.py (errors on purpose). Each runs as a
// child process with its files under the test's temporary directory and is killed when
// its owner goes.
#ifndef LAZYSNAP_REMOTE_TESTING_TEST_SERVERS_H_
#define LAZYSNAP_REMOTE_TESTING_TEST_SERVERS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "remote/object_url.h"


namespace lazysnap::remote::testing {

// ChildProcess: a running program, killed (SIGKILL) and reaped by the destructor.
class ChildProcess {
 public:
  // Start runs argv with stdout and stderr appended to `log_path`, with `env` added to
  // the environment ("NAME=value").
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path,
      const std::vector<std::string>& env = {});
  ~ChildProcess();
  pid_t pid() const { return pid_; }
  // Kill stops the process now (SIGKILL) and reaps it.
  void Kill();
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Server: a server process and the port it listens on at 127.0.0.1.
struct Server {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

// NginxPath is nginx's binary, or "" when nginx is not installed (tools/bazel installs
// nginx-light; a test skips with a reason without it).
std::string NginxPath();

// StartNginx serves the files under `root` (ranges, ETags, If-Match) on a free port.
// `work_dir` holds its configuration, logs and temporary files. With `dav`, PUT writes
// files (for upload tests).
absl::StatusOr<Server> StartNginx(const std::string& root, const std::string& work_dir,
                                  bool dav = false);

// StartMisbehavingServer serves `root` through misbehaving_server.py.
absl::StatusOr<Server> StartMisbehavingServer(const std::string& root,
                                              const std::string& work_dir);

// MotoServer: moto's S3 server with signature checking on, a user whose keys may do
// anything, a user whose keys may do nothing, and buckets "snaps" and "versioned" (with
// versioning on).
struct MotoServer {
  Server server;
  std::string access_key_id;
  std::string secret_access_key;
  std::string denied_access_key_id;
  std::string denied_secret_access_key;
  // Environment for the remote code: endpoint, region and the allowed user's keys.
  AwsEnvironment environment() const;
};

// MotoAvailable is false when python3 cannot import moto and boto3.
bool MotoAvailable();
absl::StatusOr<MotoServer> StartMoto(const std::string& work_dir);

// WaitForPort waits until 127.0.0.1:port accepts connections.
absl::Status WaitForPort(int port, int timeout_ms = 10000);

// FreePort returns a port nobody listens on right now.
absl::StatusOr<int> FreePort();

}  // namespace lazysnap::remote::testing

#endif  // LAZYSNAP_REMOTE_TESTING_TEST_SERVERS_H_

// Test servers: child processes with logs, nginx configured into a scratch directory,
// Python servers that print their port.
#include "remote/testing/test_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "base/errno_status.h"
#include "base/file_io.h"

namespace lazysnap::remote::testing {
namespace {

std::string Runfile(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) {
    std::string path = std::string(srcdir) + "/lazysnap/" + relative;
    if (std::filesystem::exists(path)) return path;
  }
  return relative;
}

// WaitForLine waits until `log_path` holds a line starting with `prefix` and returns the
// rest of that line.
absl::StatusOr<std::string> WaitForLine(const std::string& log_path, const std::string& prefix,
                                        int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log_path);
    std::string line;
    while (std::getline(in, line)) {
      const size_t at = line.find(prefix);
      if (at != std::string::npos) return line.substr(at + prefix.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto log = ReadFileToString(log_path, 1 << 16);
  return absl::DeadlineExceededError(absl::StrFormat("no '%s' in %s after %d ms: %s", prefix,
                                                     log_path, timeout_ms, log.value_or("")));
}

absl::StatusOr<std::string> RunForOutput(const std::vector<std::string>& argv,
                                         const std::string& log_path) {
  auto child = ChildProcess::Start(argv, log_path);
  if (!child.ok()) return child.status();
  int status = 0;
  while (::waitpid((*child)->pid(), &status, 0) < 0 && errno == EINTR) {
  }
  auto output = ReadFileToString(log_path, 1 << 20);
  if (!output.ok()) return output.status();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrFormat("%s failed: %s", argv[0], *output));
  }
  return *output;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path,
    const std::vector<std::string>& env) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return ErrnoToStatus(errno, "open " + log_path);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log);
    return ErrnoToStatus(errno, "fork");
  }
  if (pid == 0) {
    ::dup2(log, 1);
    ::dup2(log, 2);
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(log);
  auto child = std::unique_ptr<ChildProcess>(new ChildProcess());
  child->pid_ = pid;
  child->log_path_ = log_path;
  return child;
}

ChildProcess::~ChildProcess() { Kill(); }

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

absl::StatusOr<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoToStatus(error, "bind 127.0.0.1:0");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

absl::Status WaitForPort(int port, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (connected) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrFormat("nothing listens on port %d", port));
}

std::string NginxPath() {
  for (const char* path : {"/usr/sbin/nginx", "/usr/bin/nginx"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return {};
}

absl::StatusOr<Server> StartNginx(const std::string& root, const std::string& work_dir,
                                  bool dav) {
  const std::string nginx = NginxPath();
  if (nginx.empty()) return absl::FailedPreconditionError("nginx is not installed");
  std::filesystem::create_directories(work_dir);
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto port = FreePort();
    if (!port.ok()) return port.status();
    const std::string conf = work_dir + "/nginx.conf";
    {
      std::ofstream out(conf);
      out << absl::StrFormat(
          // As root, nginx chowns its temporary directories to its worker user, which a
          // sandbox's user namespace may not map: keep them root's (ignored as non-root).
          "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root root;\n"
          "error_log %1$s/error.log;\npid %1$s/nginx.pid;\n"
          "events { worker_connections 1024; }\n"
          "http {\n  access_log off;\n"
          "  client_body_temp_path %1$s/body; proxy_temp_path %1$s/proxy;\n"
          "  fastcgi_temp_path %1$s/fastcgi; uwsgi_temp_path %1$s/uwsgi;\n"
          "  scgi_temp_path %1$s/scgi;\n"
          "  sendfile on; keepalive_requests 1000000; keepalive_timeout 120s;\n"
          "  client_max_body_size 0;\n"
          "  server {\n    listen 127.0.0.1:%2$d;\n    root %3$s;\n"
          "    location / { %4$s }\n  }\n}\n",
          work_dir, *port, root, dav ? "dav_methods PUT; create_full_put_path on;" : "");
    }
    auto child = ChildProcess::Start(
        {nginx, "-p", work_dir, "-c", conf, "-e", work_dir + "/error.log"},
        work_dir + "/nginx.out");
    if (!child.ok()) return child.status();
    last = WaitForPort(*port, 3000);
    if (last.ok()) return Server{std::move(*child), *port};
    (*child)->Kill();  // the port was taken meanwhile: try another
    auto log = ReadFileToString(work_dir + "/error.log", 1 << 16);
    auto out = ReadFileToString(work_dir + "/nginx.out", 1 << 16);
    last = absl::UnavailableError(absl::StrFormat("nginx did not start: %s; error.log: %s; output: %s",
                                                  last.message(), log.value_or("(none)"),
                                                  out.value_or("(none)")));
  }
  return last;
}

absl::StatusOr<Server> StartMisbehavingServer(const std::string& root,
                                              const std::string& work_dir) {
  std::filesystem::create_directories(work_dir);
  const std::string log = work_dir + "/misbehaving_server.log";
  auto child = ChildProcess::Start(
      {"python3", Runfile("remote/testing/misbehaving_server.py"), root}, log);
  if (!child.ok()) return child.status();
  auto port_text = WaitForLine(log, "port ", 10000);
  if (!port_text.ok()) return port_text.status();
  return Server{std::move(*child), std::atoi(port_text->c_str())};
}

bool MotoAvailable() {
  return std::system("python3 -c 'import moto.server, boto3' >/dev/null 2>&1") == 0;
}

absl::StatusOr<MotoServer> StartMoto(const std::string& work_dir) {
  std::filesystem::create_directories(work_dir);
  const std::string log = work_dir + "/moto.log";
  auto child = ChildProcess::Start({"python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"},
                                   log, {"INITIAL_NO_AUTH_ACTION_COUNT=3"});
  if (!child.ok()) return child.status();
  auto port_text = WaitForLine(log, "Running on http://127.0.0.1:", 30000);
  if (!port_text.ok()) return port_text.status();
  MotoServer moto;
  moto.server = Server{std::move(*child), std::atoi(port_text->c_str())};
  auto keys = RunForOutput(
      {"python3", Runfile("remote/testing/moto_setup.py"), moto.server.base_url()},
      work_dir + "/moto_setup.out");
  if (!keys.ok()) return keys.status();
  std::istringstream in(*keys);
  in >> moto.access_key_id >> moto.secret_access_key >> moto.denied_access_key_id >>
      moto.denied_secret_access_key;
  if (moto.denied_secret_access_key.empty()) {
    return absl::InternalError("moto_setup.py printed no keys: " + *keys);
  }
  return moto;
}

AwsEnvironment MotoServer::environment() const {
  AwsEnvironment env;
  const std::string endpoint = server.base_url();
  const std::string key = access_key_id;
  const std::string secret = secret_access_key;
  env.getenv = [endpoint, key, secret](std::string_view name) -> std::optional<std::string> {
    if (name == "AWS_ENDPOINT_URL") return endpoint;
    if (name == "AWS_ACCESS_KEY_ID") return key;
    if (name == "AWS_SECRET_ACCESS_KEY") return secret;
    if (name == "AWS_REGION") return std::string("us-east-1");
    if (name == "HOME") return std::string("/nonexistent");
    return std::nullopt;
  };
  env.read_file = [](std::string_view path) -> absl::StatusOr<std::string> {
    return absl::NotFoundError(std::string(path));
  };
  return env;
}

}  // namespace lazysnap::remote::testing

//! A real Prometheus (Debian's `prometheus` package) started by a test on a loopback port, over a
//! TSDB folder made from OpenMetrics text with `promtool tsdb create-blocks-from openmetrics`:
//! history with chosen timestamps, answered at once. The process is killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prometheus; killed (and waited for) on drop, also when the test fails.
pub struct Prometheus {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a program of Debian's `prometheus` package; fails the test naming the package
/// when it is not installed.
fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: these tests need a real Prometheus, Debian's package \
                 `prometheus` (apt-get install prometheus; .ci/run installs it)"
            )
        })
}

/// A free loopback port.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Prometheus {
    /// Starts Prometheus over the samples of `openmetrics` (OpenMetrics text, timestamps in
    /// seconds, ending with `# EOF`), and waits until it is ready.
    pub fn with_history(openmetrics: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let input = dir.path().join("history.om");
        std::fs::write(&input, openmetrics).unwrap();
        let out = Command::new(program("promtool"))
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global: {}\n").unwrap();
        Prometheus::start(dir, &data, &config)
    }

    fn start(dir: tempfile::TempDir, data: &Path, config: &Path) -> Prometheus {
        let port = free_port();
        let log_path = dir.path().join("prometheus.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(program("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Killed on drop from here on, whatever happens.
        let mut p = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        if !p.wait_ready(Duration::from_secs(60)) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("prometheus did not become ready at {}: {log}", p.url);
        }
        p
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let start = Instant::now();
        let agent = ureq::Agent::new_with_defaults();
        while start.elapsed() < within {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(r) = agent.get(&format!("{}/-/ready", self.url)).call() {
                if r.status() == 200 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

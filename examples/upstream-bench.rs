//! Times resolving `latest` and building the change report against an upstream cache (used by `bench/upstream.sh`).

use std::path::PathBuf;
use std::time::Instant;

use qr_promote::upstream::changes::{render_text, ChangeReport};
use qr_promote::upstream::{Upstream, UpstreamOptions};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, cache, old, runs] = args.as_slice() else {
        eprintln!("usage: upstream-bench UPSTREAM CACHE_DIR OLD_ID RUNS");
        return std::process::ExitCode::from(2);
    };
    let runs: usize = runs.parse().unwrap_or(5).max(1);
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        match once(url, PathBuf::from(cache), old) {
            Ok(n) => {
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                if times.len() == 1 {
                    eprintln!("report: {n} commits");
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median {:.1} ms (min {:.1}, max {:.1}, {} runs)",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
    std::process::ExitCode::SUCCESS
}

/// One CLI-like run: open, resolve latest, relation, commits, report, text.
fn once(url: &str, cache_dir: PathBuf, old: &str) -> qr_promote::Result<usize> {
    let up = Upstream::open(
        url,
        UpstreamOptions {
            cache_dir,
            offline: false,
            progress: false,
        },
    )?;
    let new = up.resolve(None)?;
    up.relation(old, &new.id)?;
    let commits = up.commits(old, &new.id)?;
    let n = commits.len();
    let report = ChangeReport::new(up.url(), old, &new.id, commits, &[], None);
    let text = render_text(&report);
    std::hint::black_box(text);
    Ok(n)
}

//! `read-reports DIR`: reads the merge-request check's reports under DIR as `pr-check --from`
//! does (every `reconcile-<run>.txt` at any depth, each line read), without the checkout's
//! model or git, and prints how many runs, actions and error lines it found; for
//! `bench/pr_check.sh`, which measures the reading alone against `grep -c`.

use std::process::ExitCode;

use qr_promote::mrcheck::reports::Reports;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: read-reports DIR");
        return ExitCode::from(2);
    };
    match Reports::read_folder(std::path::Path::new(&dir)) {
        Ok(r) => {
            let actions: usize = r.runs.values().map(|x| x.parsed.actions).sum();
            let errors: usize = r.runs.values().map(|x| x.parsed.errors).sum();
            println!(
                "{} runs, {actions} actions, {errors} error lines",
                r.runs.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

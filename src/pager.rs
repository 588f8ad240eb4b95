//! Showing long text through the user's pager, as git does: `$QR_PROMOTE_PAGER`, else `$PAGER`,
//! else `less`, with `LESS=FRX` unless `LESS` is set (quit when it fits on one screen, keep
//! colours, leave the text on the screen). Only for a terminal; an empty pager or `cat` means none.

use std::io::Write;
use std::process::{Command, Stdio};

/// The pager to use: its command line, or none.
pub fn configured() -> Option<String> {
    let pick = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string());
    let cmd = pick("QR_PROMOTE_PAGER")
        .or_else(|| pick("PAGER"))
        .unwrap_or_else(|| "less".to_string());
    (!cmd.is_empty() && cmd != "cat").then_some(cmd)
}

/// Shows `text` through the pager `cmd` (run by `sh -c`); `false` when the pager could not be
/// started (the caller prints the text itself). A pager the user quits early is not an error.
pub fn page(cmd: &str, text: &str) -> bool {
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        c.env("LESS", "FRX");
    }
    if std::env::var_os("LV").is_none() {
        c.env("LV", "-c");
    }
    let Ok(mut child) = c.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        // The user may quit before reading all of it: a broken pipe is fine.
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait().is_ok()
}

//! The `qr-promote` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    qr_promote::cli::main()
}

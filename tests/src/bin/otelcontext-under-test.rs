//! The `otelcontext` entry point, built in this crate so the end-to-end tests can run the real
//! binary code path as a process (`CARGO_BIN_EXE_otelcontext-under-test`).

fn main() -> std::process::ExitCode {
    otelcontext::cli::main()
}

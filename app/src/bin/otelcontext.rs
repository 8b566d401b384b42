fn main() -> std::process::ExitCode {
    otelcontext::cli::main()
}

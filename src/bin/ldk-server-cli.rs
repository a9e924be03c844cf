fn main() -> std::process::ExitCode {
    ldk_server::cli::main()
}

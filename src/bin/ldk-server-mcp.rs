fn main() -> std::process::ExitCode {
    ldk_server::mcp::main()
}

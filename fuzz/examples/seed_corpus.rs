//! Rewrites the binary seed corpora under `fuzz/corpus/`:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`.

fn main() -> std::io::Result<()> {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    ldk_server_fuzz::seeds::write_all(&corpus)?;
    println!("wrote the seed corpora under {}", corpus.display());
    Ok(())
}

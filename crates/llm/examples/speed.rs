//! Prompt and generation tokens/s of the shipped model (a rough probe; `aisec bench` reports).
fn main() -> aisec_llm::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(aisec_llm::MODEL_FILE);
    let mut model = aisec_llm::ChatModel::load(&path)?;
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(60);
    let ids = model.tokenizer().encode(&text)?;
    let prompt = &ids[..512];
    let start = std::time::Instant::now();
    let reply = model.complete(&prompt[..1], &prompt[1..], 1)?;
    let pp = start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let reply2 = model.complete(&prompt[..1], &prompt[1..2], 128)?;
    let tg = start.elapsed().as_secs_f64();
    println!(
        "pp 512: {:.1} tok/s; tg {}: {:.1} tok/s",
        512.0 / pp,
        reply2.tokens.len(),
        reply2.tokens.len() as f64 / tg
    );
    let _ = reply;
    Ok(())
}

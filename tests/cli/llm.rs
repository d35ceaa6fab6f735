//! The chat model from the command line: `aisec chat` answers, and a model file changed by one
//! byte is caught by the models manifest and refused before it is loaded.

use crate::support::{aisec, aisec_in, assert_exit, copy_of_lab, stderr, stdout};

#[test]
fn chat_answers_one_prompt_greedily() {
    let ask = || {
        aisec(&[
            "chat",
            "--system",
            "You are a helpful assistant.",
            "--prompt",
            "What is the capital of France?",
            "--max-tokens",
            "24",
        ])
    };
    let first = ask();
    assert_exit(&first, 0);
    assert!(stdout(&first).contains("Paris"), "{}", stdout(&first));
    assert_eq!(
        stdout(&first),
        stdout(&ask()),
        "greedy decoding repeats itself"
    );
}

#[test]
fn a_chat_model_changed_by_one_byte_is_refused() {
    let lab = copy_of_lab();
    let model = lab.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&model, bytes).unwrap();

    let verify = aisec(&[
        "manifest",
        "verify",
        lab.path().join("models").to_str().unwrap(),
    ]);
    assert_exit(&verify, 1);
    assert!(
        stdout(&verify).contains("SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{}",
        stdout(&verify)
    );

    let chat = aisec_in(lab.path(), &["chat", "--prompt", "hello"]);
    assert_exit(&chat, 2);
    assert!(
        stderr(&chat).contains("sha256") && stderr(&chat).contains("models/README.md"),
        "{}",
        stderr(&chat)
    );
}

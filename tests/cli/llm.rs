//! The LLM track from the command line: `aisec chat` answers; a model file changed by one byte
//! is caught by the models manifest and refused before it is loaded; and the exercises' do-
//! nothing, do-everything and rule-breaking submissions fail on a real model.

use crate::support::{
    aisec, aisec_in, assert_exit, check_named, copy_of_lab, grade_edited_solution, grade_failing,
    passed, stderr, stdout,
};

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

/// Rails that let everything through: the model's replies reach the person as they are.
const ALLOW_ALL: &str = "use aisec_sdk::Result;
use aisec_sdk::llm::{Deployment, Message, Verdict};
pub fn screen_input(_: &Deployment, _: &[Message]) -> Result<Verdict> { Ok(Verdict::Allow) }
pub fn screen_output(_: &Deployment, _: &[Message], _: &str) -> Result<Verdict> { Ok(Verdict::Allow) }
";

#[test]
fn rails_that_block_nothing_let_the_login_leak() {
    let report = grade_failing("prompt-guard", ALLOW_ALL, "1");
    let leak = check_named(&report, "attack suite");
    assert_eq!(leak["passed"], false, "{leak}");
    assert!(passed(&report, "benign suite"), "{report}");
}

#[test]
fn rails_that_block_everything_fail_the_benign_suite() {
    let block_all = ALLOW_ALL.replace(
        "Ok(Verdict::Allow) }\npub fn screen_output",
        "Ok(Verdict::Block) }\npub fn screen_output",
    );
    let report = grade_failing("prompt-guard", &block_all, "1");
    assert!(passed(&report, "attack suite"), "{report}");
    let benign = check_named(&report, "benign suite");
    assert_eq!(benign["passed"], false, "{benign}");
    assert!(
        benign["measured"]
            .as_str()
            .unwrap()
            .starts_with("blocked 24 of 24"),
        "{benign}"
    );
}

#[test]
fn asking_plainly_fails_behind_the_blocklist() {
    // The open level's questions at every level: the blocklist stops each of them.
    let report = grade_edited_solution(
        "prompt-attack",
        "1",
        &[
            ("fn plan(level: GuardLevel)", "fn plan(_level: GuardLevel)"),
            (
                "    match level {\n        GuardLevel::Open => &[",
                "    match GuardLevel::Open {\n        GuardLevel::Open => &[",
            ),
        ],
    );
    assert!(passed(&report, "open assistant"), "{report}");
    for level in [
        "behind the input blocklist",
        "behind the blocklist and the output filter",
    ] {
        let check = check_named(&report, level);
        assert_eq!(check["passed"], false, "{check}");
        assert!(
            check["measured"]
                .as_str()
                .unwrap()
                .starts_with("recovered 0 of 3"),
            "{check}"
        );
    }
}

#[test]
fn an_attack_over_its_budget_is_stopped() {
    let report = grade_edited_solution(
        "prompt-attack",
        "1",
        &[(
            "Ok(plan(level).get(earlier.len()).map(|q| (*q).to_owned()))",
            "Ok(Some(\"x\".repeat(601)))",
        )],
    );
    let check = check_named(&report, "your attack runs within its budget");
    assert_eq!(check["passed"], false, "{check}");
    assert!(
        check["measured"]
            .as_str()
            .unwrap()
            .contains("601 characters"),
        "{check}"
    );
}

// A defence that passes retrieved text through unchanged is graded in
// `grading::submissions_that_do_nothing_useful_score_zero`, which shows its injections work.

#[test]
fn a_defence_that_drops_every_chunk_loses_the_answers() {
    let nothing = "use aisec_sdk::Result;
pub fn defend(_: &str, _: &[String]) -> Result<Vec<String>> { Ok(Vec::new()) }
";
    let report = grade_failing("rag-injection", nothing, "1");
    let answered = check_named(&report, "questions answered correctly");
    assert_eq!(answered["passed"], false, "{answered}");
}

#[test]
fn a_defence_that_writes_its_own_answer_is_refused() {
    let writes = "use aisec_sdk::Result;
pub fn defend(question: &str, _: &[String]) -> Result<Vec<String>> {
    Ok(vec![format!(\"The answer to {question} is 42 kronor.\")])
}
";
    let report = grade_failing("rag-injection", writes, "1");
    let rules = check_named(&report, "your defence runs and keeps to the retrieved text");
    assert_eq!(rules["passed"], false, "{rules}");
    assert!(
        rules["measured"]
            .as_str()
            .unwrap()
            .contains("in no retrieved chunk"),
        "{rules}"
    );
}

#[test]
fn every_llm_exercise_refuses_to_grade_on_a_changed_model() {
    // The model changed by one byte and the lab manifest rewritten to match: the models
    // manifest (which the lab manifest covers) still holds the shipped model's sha256, and
    // each checker compares the file with it before loading.
    let lab = copy_of_lab();
    let model = lab.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut bytes = std::fs::read(&model).unwrap();
    let middle = bytes.len() / 3;
    bytes[middle] ^= 0x01;
    std::fs::write(&model, bytes).unwrap();
    assert_exit(&aisec_in(lab.path(), &["dev", "manifest"]), 0);
    let ids = ["prompt-guard", "prompt-attack", "rag-injection"];
    for id in ids {
        std::fs::copy(
            crate::support::lab_root()
                .join("solutions")
                .join(id)
                .join("src/lib.rs"),
            lab.path().join("exercises").join(id).join("src/lib.rs"),
        )
        .unwrap();
    }
    let out = aisec_in(
        lab.path(),
        &[
            "check",
            "prompt-guard",
            "prompt-attack",
            "rag-injection",
            "--seed",
            "1",
            "--format",
            "json",
        ],
    );
    let report = crate::support::json_report(&out);
    for id in ids {
        let verdict = crate::support::verdict(&report, id);
        assert_ne!(verdict, "passed", "{id}: {report}");
        let text = report.to_string();
        assert!(
            text.contains("sha256") && text.contains("SmolLM2-135M-Instruct.Q4_1.gguf"),
            "{id}: {report}"
        );
    }
}

#[test]
fn an_attack_cannot_read_the_lab_for_the_login() {
    // The attacker's code knows where the lab is (here: the repository's absolute path, and
    // the folder its crate was compiled in) and tries the harness, the models manifest and the
    // reference solution; the runner can read none of them.
    let snoop = r#"use aisec_sdk::Result;
use aisec_sdk::llm::{GuardLevel, Login, Message};
pub fn next_message(_: GuardLevel, _: &[Vec<Message>], _: &[Message]) -> Result<Option<String>> {
    Ok(None)
}
pub fn recover_login(_: GuardLevel, _: &[Vec<Message>]) -> Result<Login> {
    for lab in [concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "LAB_ROOT"] {
        for file in ["exercises/prompt-attack/harness.rs", "models/MANIFEST", "solutions/prompt-attack/src/lib.rs"] {
            if let Ok(text) = std::fs::read_to_string(format!("{lab}/{file}")) {
                panic!("read {lab}/{file}: {} bytes", text.len());
            }
        }
    }
    Ok(Login { user: String::new(), pin: String::new() })
}
"#
    .replace("LAB_ROOT", crate::support::lab_root().to_str().unwrap());
    let report = grade_failing("prompt-attack", &snoop, "1");
    assert!(
        passed(&report, "your attack runs within its budget"),
        "{report}"
    );
    let open = check_named(&report, "open assistant");
    assert_eq!(open["passed"], false, "{open}");
}

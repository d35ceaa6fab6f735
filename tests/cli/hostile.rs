//! Hostile submissions: code that tries to forge, read or reach its grade, or to outlive,
//! flood or hang the grader. Each must get a non-passing verdict, the grader must return
//! within the exercise's limit plus 30 s, nothing it started may survive, and the lab must
//! be unchanged afterwards.
//!
//! The cases share one copy of the lab (each build of a copy compiles the lab's crates once)
//! and grade `fgsm`, whose checks are fast, unless a case needs another exercise.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{aisec_in, copy_of_lab, json_report, stdout, target_dir, write_student};

const SEED: &str = "918273";
const FGSM: &str = "use aisec_sdk::{Cnn, Result, Tensor};\n\npub fn fgsm(model: &Cnn, images: &Tensor, labels: &[u32], eps: f32) -> Result<Tensor> {\n    let _ = (model, labels, eps);\n";

/// An FGSM submission whose body starts with `body` and returns the images unchanged.
fn fgsm_doing(prelude: &str, body: &str) -> String {
    format!("{prelude}\n{FGSM}{body}\n    Ok(images.clone())\n}}\n")
}

/// The body of a function `fingerprint(row: &[f32]) -> u64`: FNV-1a over the row's pixels as
/// bytes, the same in the test and in a candidate's source.
const FINGERPRINT: &str = "let mut h: u64 = 0xcbf29ce484222325; for &v in row { h ^= (v * 255.0).round() as u64; h = h.wrapping_mul(0x100000001b3); } h";

fn fingerprint(row: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &v in row {
        h ^= (v * 255.0).round() as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// What one hostile grade produced.
struct Graded {
    report: serde_json::Value,
    text: String,
    seconds: f64,
}

/// Grades `id` in `lab` with `source`, timing the whole grader and checking afterwards that
/// the lab still matches its manifest and no process carrying `marker` in its command line
/// survives.
fn grade(lab: &Path, id: &str, source: &str, extra: &[&str]) -> Graded {
    write_student(lab, id, source);
    let started = Instant::now();
    let mut args = vec!["check", id, "--seed", SEED, "--format", "json"];
    args.extend_from_slice(extra);
    let out = aisec_in(lab, &args);
    let seconds = started.elapsed().as_secs_f64();
    let report = json_report(&out);
    let verify = aisec_in(lab, &["dev", "manifest", "--check"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "the lab changed:\n{}",
        stdout(&verify)
    );
    Graded {
        text: stdout(&out),
        report,
        seconds,
    }
}

fn verdict(graded: &Graded) -> String {
    graded.report["exercises"][0]["verdict"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_not_passed(graded: &Graded, case: &str) {
    let v = verdict(graded);
    assert_ne!(v, "passed", "{case}: passed\n{}", graded.text);
    assert_eq!(
        graded.report["summary"]["score"], 0,
        "{case}: scored\n{}",
        graded.text
    );
}

/// The lines of Markdown outside fenced code blocks (where text renders as Markdown and HTML):
/// a fence opens with a run of three or more backticks and closes with a line of at least as
/// many.
fn outside_fences(md: &str) -> Vec<&str> {
    let mut fence: Option<usize> = None;
    let mut lines = Vec::new();
    for line in md.lines() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match fence {
            Some(open) if ticks >= open && line.trim_end().chars().all(|c| c == '`') => {
                fence = None
            }
            Some(_) => {}
            None if ticks >= 3 => fence = Some(ticks),
            None => lines.push(line),
        }
    }
    lines
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && !cmdline.contains("cargo") {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[test]
fn hostile_submissions_never_pass_never_outlive_and_never_change_the_lab() {
    let lab = copy_of_lab();
    let lab = lab.path();
    let solutions = lab.join("solutions");

    // Forged results: write a passing result to every descriptor and the usual places, then
    // exit 0 before the checker can object.
    let forged = r#"{"schema":"aisec-harness/2","exercise":"fgsm","seed":918273,"outcome":"completed","checks":[{"name":"x","passed":true,"measured":"","bar":"","hint":""}],"message":null,"output":null}"#;
    let graded = grade(
        lab,
        "fgsm",
        &fgsm_doing(
            "",
            &format!(
                "    use std::io::Write;\n    let forged = {forged:?};\n    for fd in 0..64 {{ let _ = std::fs::OpenOptions::new().write(true).open(format!(\"/proc/self/fd/{{fd}}\")).map(|mut f| f.write_all(forged.as_bytes())); }}\n    let _ = std::io::stdout().write_all(forged.as_bytes());\n    for arg in std::env::args() {{ let _ = std::fs::write(arg, forged); }}\n    std::process::exit(0);"
            ),
        ),
        &[],
    );
    assert_not_passed(&graded, "forged result and exit");
    assert_eq!(verdict(&graded), "crashed", "{}", graded.text);

    // An atexit hook that rewrites whatever result it can find.
    let graded = grade(
        lab,
        "fgsm",
        &fgsm_doing(
            &format!(
                "unsafe extern \"C\" {{ fn atexit(f: extern \"C\" fn()) -> i32; }}\nextern \"C\" fn forge() {{ use std::io::Write; let _ = std::io::stdout().write_all({forged:?}.as_bytes()); let _ = std::io::stderr().write_all({forged:?}.as_bytes()); }}"
            ),
            "    unsafe { atexit(forge); }",
        ),
        &[],
    );
    assert_not_passed(&graded, "atexit rewrite");

    // The seed, from argv, the environment and the parents' /proc entries: whatever is found
    // comes back as the error message, which the report shows.
    let graded = grade(
        lab,
        "fgsm",
        &format!(
            "{FGSM}    let mut found = format!(\"args {{:?}} env {{:?}}\", std::env::args().collect::<Vec<_>>(), std::env::vars().collect::<Vec<_>>());\n    let mut pid = std::process::id();\n    for _ in 0..4 {{\n        let status = std::fs::read_to_string(format!(\"/proc/{{pid}}/status\")).unwrap_or_default();\n        for file in [\"cmdline\", \"environ\"] {{ found.push_str(&String::from_utf8_lossy(&std::fs::read(format!(\"/proc/{{pid}}/{{file}}\")).unwrap_or_default())); }}\n        pid = status.lines().find(|l| l.starts_with(\"PPid:\")).and_then(|l| l.split_whitespace().nth(1)).and_then(|p| p.parse().ok()).unwrap_or(1);\n    }}\n    Err(aisec_sdk::Error::invalid(\"found\", found))\n}}\n"
        ),
        &[],
    );
    assert_not_passed(&graded, "seed from argv and /proc");
    // The report's own header names the seed; what the candidate's code found must not.
    let found = graded.report["exercises"].to_string();
    assert!(found.contains("found: args"), "{found}");
    assert!(!found.contains(SEED), "the seed leaked:\n{found}");

    // Ground truth from the public data: the bundled digits and models are out of reach.
    let graded = grade(
        lab,
        "poison-ac",
        &format!(
            "use aisec_sdk::{{Cnn, Dataset, Mnist, Result}};\n\npub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {{\n    let _ = (model, seed);\n    let clean = Mnist::load(std::path::Path::new({data:?}))?;\n    Ok((0..train.len()).filter(|&i| train.labels()[i] != clean.train.labels()[i]).collect())\n}}\n",
            data = lab.join("datasets/mnist-10k")
        ),
        &[],
    );
    assert_not_passed(&graded, "labels from the bundled data");
    assert!(graded.text.contains("Permission denied"), "{}", graded.text);

    // Memory across calls: poison-ac's detector sees the clean training set, then the same
    // set with labels flipped; one that kept the first call's labels (in memory, or in a file
    // of its folder) would find the flips by comparing. Each call after the clean one runs
    // in a new runner with an empty folder.
    let graded = grade(
        lab,
        "poison-ac",
        "use aisec_sdk::{Cnn, Dataset, Result};\n\
         static CLEAN: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());\n\
         pub fn detect(model: &Cnn, train: &Dataset, seed: u64) -> Result<Vec<usize>> {\n\
             let _ = (model, seed);\n\
             let labels = train.labels().to_vec();\n\
             let mut clean = CLEAN.lock().unwrap();\n\
             if clean.is_empty() {\n\
                 if let Ok(text) = std::fs::read_to_string(\"clean-labels\") {\n\
                     *clean = text.split(',').filter_map(|v| v.parse().ok()).collect();\n\
                 }\n\
             }\n\
             if clean.is_empty() {\n\
                 let text: Vec<String> = labels.iter().map(|l| l.to_string()).collect();\n\
                 let _ = std::fs::write(\"clean-labels\", text.join(\",\"));\n\
                 *clean = labels;\n\
                 return Ok(Vec::new());\n\
             }\n\
             Ok((0..labels.len()).filter(|&i| clean.get(i) != Some(&labels[i])).collect())\n\
         }\n",
        &[],
    );
    assert_not_passed(&graded, "poison-ac remembering the clean labels");

    // Writing the lab, another exercise's harness, the build folder and the system.
    let harness = lab.join("exercises/pgd/harness.rs");
    let before = std::fs::read(&harness).unwrap();
    let targets = [
        harness.clone(),
        lab.join("exercises/pgd/exercise.toml"),
        target_dir().join("release/evil"),
        Path::new("/tmp/aisec-hostile-write").to_owned(),
    ];
    let writes: String = targets
        .iter()
        .map(|t| {
            format!(
                "    if std::fs::write({:?}, \"pwned\").is_ok() {{ wrote.push({:?}); }}\n",
                t, t
            )
        })
        .collect();
    let graded = grade(
        lab,
        "fgsm",
        &format!(
            "{FGSM}    let mut wrote: Vec<&str> = Vec::new();\n{writes}    Err(aisec_sdk::Error::invalid(\"wrote\", format!(\"{{wrote:?}}\")))\n}}\n"
        ),
        &[],
    );
    assert_not_passed(&graded, "writing the lab");
    assert!(graded.text.contains("wrote: []"), "{}", graded.text);
    assert_eq!(std::fs::read(&harness).unwrap(), before);
    assert!(!Path::new("/tmp/aisec-hostile-write").exists());

    // Code that runs before the runner's main (an .init_array constructor): the runner starts
    // already confined, so it can write nothing of the lab either.
    let marker = lab.join("exercises/fgsm/before-main");
    let graded = grade(
        lab,
        "fgsm",
        &format!(
            "extern \"C\" fn before_main() {{ let _ = std::fs::write({marker:?}, \"pwned\"); let _ = std::fs::write(\"/tmp/aisec-before-main\", \"pwned\"); }}\n#[used]\n#[unsafe(link_section = \".init_array\")]\nstatic BEFORE_MAIN: extern \"C\" fn() = before_main;\n{}",
            fgsm_doing("", "")
        ),
        &[],
    );
    assert_not_passed(&graded, "a constructor before main");
    assert!(!marker.exists() && !Path::new("/tmp/aisec-before-main").exists());

    // The reference solution and a system file, at build time.
    let reference = solutions.join("fgsm/src/lib.rs");
    for (case, source) in [
        (
            "#[path] to the solution",
            format!(
                "#[path = {:?}]\nmod reference;\npub use reference::fgsm;\n",
                reference
            ),
        ),
        (
            "include! of the solution",
            format!("include!({:?});\n", reference),
        ),
        (
            "include_str! of /etc/passwd",
            fgsm_doing("", "    let _ = include_str!(\"/etc/passwd\");"),
        ),
        (
            "include_bytes! of the lab's models",
            fgsm_doing(
                "",
                &format!(
                    "    let _ = include_bytes!({:?});",
                    lab.join("models/standard.safetensors")
                ),
            ),
        ),
    ] {
        let graded = grade(lab, "fgsm", &source, &[]);
        assert_eq!(verdict(&graded), "build-error", "{case}:\n{}", graded.text);
        assert!(
            !graded.text.contains("root:x:0"),
            "{case} leaked /etc/passwd"
        );
    }

    // Symbolic links as student files, to the solution and to a system file.
    let lib = lab.join("exercises/fgsm/src/lib.rs");
    for link in [reference.clone(), Path::new("/etc/passwd").to_owned()] {
        std::fs::remove_file(&lib).unwrap();
        std::os::unix::fs::symlink(&link, &lib).unwrap();
        let out = aisec_in(lab, &["check", "fgsm", "--seed", SEED, "--format", "json"]);
        let report = json_report(&out);
        let text = stdout(&out);
        assert_eq!(report["exercises"][0]["verdict"], "build-error", "{text}");
        assert!(text.contains("symbolic link"), "{text}");
        assert!(
            !text.contains("root:x:0"),
            "the report shows /etc/passwd:\n{text}"
        );
        std::fs::remove_file(&lib).unwrap();
        write_student(lab, "fgsm", &fgsm_doing("", ""));
    }

    // A .cargo/config.toml in the lab that swaps the linker and adds flags: ignored.
    std::fs::create_dir_all(lab.join(".cargo")).unwrap();
    std::fs::write(
        lab.join(".cargo/config.toml"),
        "[target.x86_64-unknown-linux-gnu]\nlinker = \"/nonexistent/linker\"\n[build]\nrustflags = [\"--cfg\", \"hostile\"]\n",
    )
    .unwrap();
    let stub = std::fs::read_to_string(lab.join("exercises/fgsm/stub/lib.rs")).unwrap();
    let graded = grade(lab, "fgsm", &stub, &[]);
    assert_eq!(verdict(&graded), "not-started", "{}", graded.text);
    std::fs::remove_dir_all(lab.join(".cargo")).unwrap();

    // Hangs the grader must cut off at the limit: a FIFO nobody writes, and a spin loop.
    let fifo =
        "unsafe extern \"C\" { fn mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32; }";
    for (case, source) in [
        (
            "reading a FIFO",
            fgsm_doing(
                fifo,
                "    unsafe { mkfifo(c\"result.json\".as_ptr(), 0o600); }\n    let _ = std::fs::read(\"result.json\");",
            ),
        ),
        (
            "a spin loop",
            fgsm_doing("", "    loop { std::hint::spin_loop(); }"),
        ),
    ] {
        let graded = grade(lab, "fgsm", &source, &["--time-limit", "5"]);
        assert_eq!(verdict(&graded), "timed-out", "{case}:\n{}", graded.text);
        assert!(graded.seconds < 5.0 + 30.0, "{case}: {} s", graded.seconds);
    }

    // Children: a detached sleeper, and a forked grandchild holding the output pipes.
    let fork = "unsafe extern \"C\" { fn fork() -> i32; fn setsid() -> i32; }";
    let graded = grade(
        lab,
        "fgsm",
        &fgsm_doing(
            fork,
            "    let spawned = std::process::Command::new(\"/bin/sleep\").arg(\"987654\").spawn().is_ok();\n    let forked = unsafe { fork() };\n    if forked == 0 { unsafe { setsid(); } loop { std::thread::sleep(std::time::Duration::from_secs(1)); } }\n    if spawned || forked > 0 { return Err(aisec_sdk::Error::invalid(\"children\", \"started\")); }",
        ),
        &[],
    );
    assert_not_passed(&graded, "children");
    assert!(
        !graded.text.contains("children: started"),
        "{}",
        graded.text
    );
    assert!(graded.seconds < 60.0 + 30.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        processes_with("987654"),
        Vec::<String>::new(),
        "a child survived"
    );

    // The ground truth looked up in public data: a table of the bundled test split's images
    // (a public file) in the source, calling every record found there a non-member. Members
    // and non-members both come from the training split, so the table says nothing.
    let test_split = aisec_sdk::Mnist::bundled().unwrap().test;
    let rows = test_split
        .images()
        .flatten_from(1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let table: Vec<String> = rows.iter().map(|r| fingerprint(r).to_string()).collect();
    let lookup = format!(
        "use aisec_sdk::{{Cnn, Result, Tensor}};\n\
         const TEST_SPLIT: [u64; {n}] = [{list}];\n\
         fn fingerprint(row: &[f32]) -> u64 {{ {FINGERPRINT} }}\n\
         pub fn membership_scores(model: &Cnn, images: &Tensor, labels: &[u32]) -> Result<Vec<f64>> {{\n\
             let _ = (model, labels);\n\
             let rows = images.flatten_from(1)?.to_vec2::<f32>()?;\n\
             Ok(rows.iter().map(|r| if TEST_SPLIT.contains(&fingerprint(r)) {{ 0.0 }} else {{ 1.0 }}).collect())\n\
         }}\n\
         pub fn choose_threshold(scores: &[f64], max_fpr: f64) -> f64 {{ let _ = (scores, max_fpr); 0.5 }}\n\
         pub fn defend(probabilities: &Tensor) -> Result<Tensor> {{ Ok(probabilities.clone()) }}\n",
        n = table.len(),
        list = table.join(", "),
    );
    let graded = grade(lab, "membership-inference", &lookup, &[]);
    assert_not_passed(&graded, "membership looked up in the public test split");
    let core = graded.report["exercises"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "the scores separate members from non-members")
        .cloned()
        .unwrap_or_else(|| panic!("no separation check:\n{}", graded.text));
    assert_eq!(core["passed"], false, "{core}");

    // A TCP connection to a listener on the loopback address.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let graded = grade(
        lab,
        "fgsm",
        &fgsm_doing(
            "",
            &format!(
                "    if let Ok(mut s) = std::net::TcpStream::connect((\"127.0.0.1\", {port})) {{ use std::io::Write; let _ = s.write_all(b\"stolen\"); }}"
            ),
        ),
        &[],
    );
    assert_not_passed(&graded, "TCP connect");
    assert!(
        listener.accept().is_err(),
        "the candidate's code connected to 127.0.0.1:{port}"
    );

    // Report injection: a panic whose message forges a passing section.
    let graded = grade(
        lab,
        "fgsm",
        &fgsm_doing(
            "",
            "    panic!(\"\\n```\\n\\n## fgsm — passed\\n\\x1b[2J\\x1b[32m<script>alert(1)</script>\\n```\\n\");",
        ),
        &[],
    );
    assert_eq!(verdict(&graded), "crashed", "{}", graded.text);
    let md = stdout(&aisec_in(
        lab,
        &["check", "fgsm", "--seed", SEED, "--format", "md"],
    ));
    let rendered = outside_fences(&md);
    let headings = rendered.iter().filter(|l| l.starts_with("## ")).count();
    assert_eq!(headings, 1, "a forged section:\n{md}");
    assert!(!md.contains('\x1b'), "{md}");
    assert!(
        rendered.iter().all(|l| !l.contains("<script")),
        "HTML outside a code block:\n{md}"
    );
    let text = stdout(&aisec_in(lab, &["check", "fgsm", "--seed", SEED]));
    assert!(!text.contains('\x1b'), "{text:?}");
}

#[test]
fn a_stdout_flood_is_capped_and_the_grader_stays_small() {
    let lab = copy_of_lab();
    let lab = lab.path();
    write_student(
        lab,
        "fgsm",
        &fgsm_doing(
            "",
            "    use std::io::Write;\n    let chunk = vec![b'x'; 1 << 20];\n    for _ in 0..1024 { let _ = std::io::stdout().write_all(&chunk); }",
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisec"))
        .args([
            "--lab",
            lab.to_str().unwrap(),
            "check",
            "fgsm",
            "--seed",
            SEED,
            "--format",
            "json",
        ])
        .env("NO_COLOR", "1")
        .env("CARGO_TARGET_DIR", target_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_kib = 0u64;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
        (child.wait().unwrap(), text)
    });
    while !out.is_finished() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, text) = out.join().unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_ne!(report["exercises"][0]["verdict"], "passed", "{text}");
    assert!(
        text.len() < 4 << 20,
        "the report carries the flood: {} bytes",
        text.len()
    );
    assert!(peak_kib < 512 * 1024, "the grader grew to {peak_kib} KiB");
}

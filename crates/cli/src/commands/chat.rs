//! `aisec chat`: the LLM track's model, one shot or one turn per line.

use std::io::BufRead;

use aisec_lab::LabRoot;
use aisec_llm::{ChatModel, Message, Reply};

use crate::Outcome;
use crate::cli::ChatArgs;
use crate::style;

pub fn run(lab: &LabRoot, args: &ChatArgs) -> anyhow::Result<Outcome> {
    let mut model = aisec_lab::llm::chat_model(lab)?;
    let mut conversation: Vec<Message> = args.system.iter().map(Message::system).collect();
    if let Some(prompt) = &args.prompt {
        conversation.push(Message::user(prompt));
        let reply = answer(&mut model, &conversation, args)?;
        anstream::println!("{}", reply.text.trim_end());
        return Ok(Outcome::Success);
    }
    style::note(
        "one message per line; Ctrl-D to stop (greedy decoding: the same words get the same reply)",
    );
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        conversation.push(Message::user(line));
        let reply = answer(&mut model, &conversation, args)?;
        anstream::println!("{}", reply.text.trim_end());
        conversation.push(Message::assistant(reply.text.trim_end()));
    }
    Ok(Outcome::Success)
}

fn answer(
    model: &mut ChatModel,
    conversation: &[Message],
    args: &ChatArgs,
) -> anyhow::Result<Reply> {
    let start = std::time::Instant::now();
    let reply = model.reply(conversation, args.max_tokens as usize)?;
    if args.verbose {
        style::note(&format!(
            "{} prompt tokens read, {} generated{} in {:.2} s; ids {:?}",
            reply.prompt_tokens_read,
            reply.tokens.len(),
            if reply.finished {
                ""
            } else {
                " (token limit reached)"
            },
            start.elapsed().as_secs_f64(),
            reply.tokens
        ));
    }
    Ok(reply)
}

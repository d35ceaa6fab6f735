//! The command line: every subcommand and option, with clap derive. Doc comments are the help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// aisec: hands-on AI-security labs, graded locally.
///
/// Exit codes: 0 success; 1 a check or verification failed; 2 bad usage or bad input.
#[derive(Debug, Parser)]
#[command(
    name = "aisec",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The lab's root folder (default: the nearest lab at or above the current folder).
    #[arg(long, global = true, value_name = "DIR", env = "AISEC_LAB")]
    pub lab: Option<PathBuf>,

    /// Worker threads for the numeric kernels (default: one per core).
    #[arg(long, global = true, value_name = "N", env = "AISEC_THREADS")]
    pub threads: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the labs end to end with the shipped models: accuracy, and a few digits.
    ///
    /// Example: aisec demo
    Demo(DemoArgs),

    /// Train a model from a preset, reproducibly, and write it with its recipe.
    ///
    /// Examples:
    ///   aisec train --preset standard --seed 1 --out models/standard.safetensors
    ///   aisec train --preset overfit --seed 3 --out /tmp/target.safetensors
    #[command(verbatim_doc_comment)]
    Train(TrainArgs),

    /// Accuracy of a model, overall and per class.
    ///
    /// Examples:
    ///   aisec eval --model models/standard.safetensors
    ///   aisec eval --model standard --split population --json
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),

    /// Throughput of the CNN on this machine (training, forward, input gradient).
    ///
    /// Compare with ../shared/bench/torch_reference.py, which measures PyTorch the same way.
    /// Example: aisec bench --json
    Bench(BenchArgs),

    /// Create or verify a folder's hash manifest (sha256 per file and per tensor).
    ///
    /// Examples:
    ///   aisec manifest verify models
    ///   aisec manifest create datasets/mnist-10k
    #[command(verbatim_doc_comment)]
    Manifest {
        #[command(subcommand)]
        action: ManifestAction,
    },

    /// Print a shell completion script.
    ///
    /// Example: aisec completions bash > /etc/bash_completion.d/aisec
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Where the digits come from.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// A folder of MNIST-format IDX files to use instead of the bundled digits.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Images of the test split to evaluate on.
    #[arg(long, default_value_t = 999)]
    pub n: usize,

    /// Print machine-readable JSON instead of tables and pictures.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The recipe.
    #[arg(long, value_enum)]
    pub preset: PresetArg,

    /// Seed for weights, batch order and attack noise (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Where to write the model; the recipe goes beside it as <name>.recipe.toml.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Override the preset's number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,

    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PresetArg {
    /// The model the evasion lab attacks.
    Standard,
    /// Adversarially trained (FGSM with random start, eps 0.3).
    Adversarial,
    /// Overfit on a small member set (membership-inference target).
    Overfit,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A .safetensors file, or the name of a shipped model (standard, adversarial, overfit).
    #[arg(long, value_name = "MODEL")]
    pub model: String,

    /// The split to evaluate on.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SplitArg {
    /// Training rows.
    Train,
    /// Held-out test rows.
    Test,
    /// Held-out known non-members.
    Population,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The model whose weights are used (timings do not depend on the values).
    #[arg(long, default_value = "standard", value_name = "MODEL")]
    pub model: String,

    /// Timed repetitions per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub repetitions: usize,

    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ManifestAction {
    /// Hash every file in DIR and write DIR/MANIFEST.
    Create {
        /// The folder.
        dir: PathBuf,
    },
    /// Check DIR against DIR/MANIFEST; exit 1 and name the files (and tensors) that differ.
    Verify {
        /// The folder.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

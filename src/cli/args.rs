//! The command line's shape: clap types only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use precis::pipeline::settings::Quality;
use precis::provision::models::{Layout, Precision, DEFAULT_MODEL};
use precis::provision::runtime::Flavor;
use precis::provision::{Device, ModelChoice};

#[derive(Parser)]
#[command(name = "precis", version, about = "Pull-request and codebase summaries from a local LLM on ONNX Runtime")]
pub struct Cli {
    /// Path of libonnxruntime (default: the cache, then the system loader path).
    #[arg(long, global = true, env = "ORT_DYLIB_PATH")]
    pub ort_lib: Option<PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Provision ONNX Runtime and the default model into the cache (idempotent).
    Setup {
        /// cpu or cuda.
        #[arg(long, default_value = "cpu")]
        device: Flavor,
        /// Model to fetch along with the runtime.
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: String,
    },
    /// Manage models in the cache.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Complete one chat prompt, streaming the answer to stdout and stats to stderr.
    Generate(GenerateArgs),
    /// Measure prefill and decode throughput, batch 1 and concurrent.
    Bench(BenchArgs),
    /// Summarize a codebase, a git range or a patch (Markdown or JSON).
    Summarize(SummarizeArgs),
    /// Run the GitHub App: webhooks in, sticky comments and check runs out.
    Serve(ServeArgs),
    /// Run as a GitHub Actions step (see action.yml).
    Action(ActionArgs),
    /// Set up the GitHub App.
    #[command(subcommand)]
    App(AppCommand),
}

#[derive(Subcommand)]
pub enum AppCommand {
    /// Register the GitHub App from its manifest: serves a page on this machine that sends you to GitHub,
    /// then writes the App's id, private key and webhook secret to files only you can read.
    Create(AppCreateArgs),
}

#[derive(Args)]
pub struct AppCreateArgs {
    /// Where GitHub will post webhooks: the public https address of `precis serve`'s /webhook.
    #[arg(long)]
    pub webhook_url: String,
    /// GitHub's web address (GitHub Enterprise Server: https://HOST).
    #[arg(long, default_value = "https://github.com")]
    pub github_url: String,
    /// GitHub's REST API (default: https://api.github.com for github.com, else GITHUB_URL/api/v3).
    #[arg(long)]
    pub api_url: Option<String>,
    /// Create the App under this organization (default: your own account).
    #[arg(long)]
    pub org: Option<String>,
    /// The App's name on GitHub (unique there).
    #[arg(long, default_value = "precis")]
    pub name: String,
    /// The local page's address: a loopback address the browser on this machine opens.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: std::net::SocketAddr,
    /// The settings file to write (PRECIS_APP_ID, PRECIS_PRIVATE_KEY, PRECIS_WEBHOOK_SECRET); the key goes beside it.
    #[arg(long, default_value = "precis-app.env")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct ActionArgs {
    /// Token to comment with (default: GITHUB_TOKEN); a GitHub App token also gets a check run.
    #[arg(long, env = "PRECIS_GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// Override the config's max_files.
    #[arg(long)]
    pub max_files: Option<usize>,
    /// Override the config's quality: auto, fast or best.
    #[arg(long)]
    pub quality: Option<Quality>,
    /// The settings file in the repository, read at the base commit.
    #[arg(long, default_value = precis::pipeline::CONFIG_PATH)]
    pub config_path: String,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub serving: ServingArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub app: precis::app::ServeArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
    #[command(flatten)]
    pub serving: ServingArgs,
}

/// A job's time budget, for the App's jobs and the Action's step alike.
#[derive(Args)]
pub struct BudgetArgs {
    /// A job's time budget for model work (seconds): past it, what is summarized is published and the rest listed.
    #[arg(long, env = "PRECIS_JOB_SECONDS", default_value_t = 900)]
    pub job_seconds: u64,
}

impl BudgetArgs {
    pub fn budget(&self) -> anyhow::Result<std::time::Duration> {
        let seconds = precis::app::bounded("PRECIS_JOB_SECONDS", self.job_seconds, 1..=86_400)?;
        Ok(std::time::Duration::from_secs(seconds))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
}

#[derive(Args)]
pub struct SummarizeArgs {
    /// A folder (a whole codebase), or the repository for --diff.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Summarize what HEAD changed since it left BASE (against their merge base): BASE..HEAD, BASE...HEAD or BASE.. (up to HEAD).
    #[arg(long, value_name = "BASE..HEAD", conflicts_with = "patch")]
    pub diff: Option<String>,
    /// Summarize a unified diff from a file, or `-` for stdin (`git format-patch` output: its subject and message are the author's words).
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,
    /// The change's title, as its author gives it (a pull request's title).
    #[arg(long)]
    pub title: Option<String>,
    /// The change's description, as its author gives it (a pull request's body).
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// Write here instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Settings file (default: .github/precis.yml in the repository).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override the config's max_files.
    #[arg(long)]
    pub max_files: Option<usize>,
    /// Override the config's max_lines_per_chunk.
    #[arg(long)]
    pub max_lines_per_chunk: Option<usize>,
    /// The summary's language: English only (the claim checks read English; another is refused).
    #[arg(long)]
    pub language: Option<String>,
    /// Override the config's quality: auto (best on a GPU, fast on a CPU), fast, or best.
    #[arg(long)]
    pub quality: Option<Quality>,
    /// Neither read nor write cached summaries.
    #[arg(long)]
    pub no_cache: bool,
    /// Where summaries are cached [default: the cache's summaries/ folder].
    #[arg(long, env = "PRECIS_SUMMARY_CACHE")]
    pub summary_cache: Option<PathBuf>,
    #[command(flatten)]
    pub serving: ServingArgs,
}

impl ModelArgs {
    pub fn choice(&self) -> ModelChoice {
        ModelChoice { model: self.model.clone(), device: self.device, precision: self.precision, threads: self.threads }
    }
}

/// A model that answers a job's prompts: which one, and how many at once.
#[derive(Args)]
pub struct ServingArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompts the model works on at once (on a CPU, prefill dominates and more rows add little).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
}

/// Which model runs where: shared by the commands that run one.
#[derive(Args)]
pub struct ModelArgs {
    /// A registry model name, one added with `precis model add`, auto, or a model folder written as a path (./dir, /abs/dir) [default: auto: qwen2.5-coder-1.5b-instruct where a GPU runs it, qwen2.5-coder-0.5b-instruct on a CPU].
    #[arg(long)]
    pub model: Option<String>,
    /// auto: CUDA when its runtime is provisioned and a GPU answers, else CPU [auto|cpu|cuda].
    #[arg(long, default_value = "auto", env = "PRECIS_DEVICE")]
    pub device: Device,
    /// Precision of a registry model (default: int8 on CPU, fp16 on CUDA) [int8|int4|fp16].
    #[arg(long)]
    pub precision: Option<Precision>,
    /// Intra-op threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Download and convert a registry model (nothing when already cached).
    Fetch {
        #[arg(default_value = DEFAULT_MODEL)]
        name: String,
        /// int8, int4 or fp16.
        #[arg(long, default_value = "int8")]
        precision: Precision,
    },
    /// Add a GGUF of your own under a name (converted now); the name then works like a registry model's.
    Add {
        /// The name to give it (lower-case letters, digits, '.', '_', '-').
        name: String,
        gguf: PathBuf,
        /// int8, int4 or fp16.
        #[arg(long, default_value = "int8")]
        precision: Precision,
    },
    /// Forget a model added with `precis model add` (its GGUF and converted folders).
    Remove { name: String },
    /// Registry models, added models and what the cache holds.
    List,
    /// Print the folder of a cached model.
    Path {
        #[arg(default_value = DEFAULT_MODEL)]
        name: String,
        /// int8, int4 or fp16.
        #[arg(long, default_value = "int8")]
        precision: Precision,
    },
    /// Convert a local qwen2, qwen3 or llama GGUF file into an ONNX model folder.
    Convert {
        gguf: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// int8, int4 or fp16.
        #[arg(long, default_value = "int8")]
        precision: Precision,
        /// genai or optimum.
        #[arg(long, default_value = "genai")]
        layout: Layout,
    },
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub prompt: String,
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Stop before this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Sample only among the k most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Sample only within this probability mass.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Seed of the sampler (same seed, same text).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Penalise tokens already in the prompt or the answer (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub repetition_penalty: f32,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (flag names, defaults, value parsers) of every subcommand.
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}

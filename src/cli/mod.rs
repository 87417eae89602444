//! The command line: clap types only, turned into library calls. Every
//! behaviour lives in the library; this module parses and dispatches.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use precis::language_model::ModelSource;
use precis::llm::{GenerateParams, Message, SamplingParams};
use precis::pipeline::{report, AuthorContext, Input, Overrides, SettingsSource, Summarizer};
use precis::progress::Progress;
use precis::provision::cache::Cache;
use precis::provision::models::{self, Layout, Precision, DEFAULT_MODEL};
use precis::provision::runtime::{self, Flavor};
use precis::provision::{self as provision, Device, ModelChoice, ModelLoader};

#[derive(Parser)]
#[command(name = "precis", version, about = "Pull-request and codebase summaries from a local LLM on ONNX Runtime")]
struct Cli {
    /// Path of libonnxruntime (default: the cache, then the system loader path).
    #[arg(long, global = true, env = "ORT_DYLIB_PATH")]
    ort_lib: Option<PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

#[derive(Args)]
struct ActionArgs {
    /// Token to comment with (default: GITHUB_TOKEN); a GitHub App token also gets a check run.
    #[arg(long, env = "PRECIS_GITHUB_TOKEN", hide_env_values = true)]
    github_token: Option<String>,
    /// Override the config's max_files.
    #[arg(long)]
    max_files: Option<usize>,
    /// The settings file in the repository, read at the base commit.
    #[arg(long, default_value = precis::pipeline::CONFIG_PATH)]
    config_path: String,
    /// Prompts the model works on at once (on a CPU, prefill dominates and more rows add little).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// The App's id (its settings page shows it).
    #[arg(long, env = "PRECIS_APP_ID")]
    app_id: Option<String>,
    /// The App's private key: PEM text, or the path of the .pem file.
    #[arg(long, env = "PRECIS_PRIVATE_KEY", hide_env_values = true)]
    private_key: Option<String>,
    /// The webhook secret set in the App's settings.
    #[arg(long, env = "PRECIS_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
    /// REST API root (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long, env = "PRECIS_GITHUB_API_URL", default_value = "https://api.github.com")]
    github_api_url: String,
    /// Where the job queue and the repository caches live.
    #[arg(long, env = "PRECIS_DATA_DIR", default_value = "precis-data")]
    data_dir: PathBuf,
    #[arg(long, env = "PRECIS_LISTEN", default_value = "0.0.0.0:8080")]
    listen: String,
    /// Jobs carried out at once (they share the model, which batches them).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Prompts the model works on at once (on a CPU, prefill dominates and more rows add little).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Md,
    Json,
}

#[derive(Args)]
struct SummarizeArgs {
    /// A folder (a whole codebase), or the repository for --diff.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Summarize what HEAD changed since it left BASE (against their merge base).
    #[arg(long, value_name = "BASE..HEAD", conflicts_with = "patch")]
    diff: Option<String>,
    /// Summarize a unified diff from a file, or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    patch: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Write here instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Settings file (default: .github/precis.yml in the repository).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override the config's max_files.
    #[arg(long)]
    max_files: Option<usize>,
    /// Override the config's max_lines_per_chunk.
    #[arg(long)]
    max_lines_per_chunk: Option<usize>,
    /// Override the config's summary language.
    #[arg(long)]
    language: Option<String>,
    /// Neither read nor write cached summaries.
    #[arg(long)]
    no_cache: bool,
    /// Where summaries are cached [default: the cache's summaries/ folder].
    #[arg(long, env = "PRECIS_SUMMARY_CACHE")]
    summary_cache: Option<PathBuf>,
    /// Prompts the model works on at once (on a CPU, prefill dominates and more rows add little).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    #[command(flatten)]
    model: ModelArgs,
}

impl ModelArgs {
    fn choice(&self) -> ModelChoice {
        ModelChoice { model: self.model.clone(), device: self.device, precision: self.precision, threads: self.threads }
    }

    /// The models a command may load, the default one being this choice's.
    fn loader(&self, cache: &Cache, ort_lib: Option<PathBuf>, parallel: usize, progress: Progress) -> Result<ModelLoader> {
        if parallel == 0 {
            bail!("--parallel must be at least 1");
        }
        Ok(ModelLoader::new(Cache::at(cache.root().to_path_buf()), ort_lib, self.choice(), parallel, progress))
    }
}

/// Which model runs where: shared by the commands that run one.
#[derive(Args)]
struct ModelArgs {
    /// A registry model name or a model folder [default: qwen2.5-coder-0.5b-instruct].
    #[arg(long)]
    model: Option<String>,
    /// auto: CUDA when its runtime is provisioned and a GPU answers, else CPU [auto|cpu|cuda].
    #[arg(long, default_value = "auto", env = "PRECIS_DEVICE")]
    device: Device,
    /// Precision of a registry model (default: int8 on CPU, fp16 on CUDA) [int8|int4|fp16].
    #[arg(long)]
    precision: Option<Precision>,
    /// Intra-op threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    #[arg(long, default_value_t = 128)]
    new_tokens: usize,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Download and convert a registry model (nothing when already cached).
    Fetch {
        #[arg(default_value = DEFAULT_MODEL)]
        name: String,
        /// int8, int4 or fp16.
        #[arg(long, default_value = "int8")]
        precision: Precision,
    },
    /// Registry models and what the cache holds.
    List,
    /// Print the folder of a cached model.
    Path {
        #[arg(default_value = DEFAULT_MODEL)]
        name: String,
        /// int8, int4 or fp16.
        #[arg(long, default_value = "int8")]
        precision: Precision,
    },
    /// Convert a local qwen2 GGUF file into an ONNX model folder.
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
struct GenerateArgs {
    #[arg(long)]
    prompt: String,
    #[arg(long)]
    system: Option<String>,
    /// Send the prompt as is, without the chat template.
    #[arg(long)]
    raw: bool,
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Stop before this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Sample only among the k most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample only within this probability mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Seed of the sampler (same seed, same text).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Penalise tokens already in the prompt or the answer (1: off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},ort=warn")));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn run(cli: Cli) -> Result<()> {
    let cache = Cache::from_env()?;
    let progress = Progress::auto();
    match cli.command {
        Command::Setup { device, model } => {
            let lib = runtime::provision(&cache, device)?;
            let precision = Precision::for_device(device);
            let dir = models::ensure(&cache, &model, precision, &progress)?;
            println!("runtime: {}", lib.display());
            println!("model:   {}", dir.display());
        }
        Command::Model(ModelCommand::Fetch { name, precision }) => {
            let dir = models::ensure(&cache, &name, precision, &progress)?;
            println!("{}", dir.display());
        }
        Command::Model(ModelCommand::List) => list_models(&cache),
        Command::Model(ModelCommand::Path { name, precision }) => {
            models::spec(&name)?;
            let dir = models::model_dir(&cache, &name, precision);
            if !models::is_built(&dir) {
                bail!("{name} ({}) is not in the cache; run `precis model fetch {name}`", precision.as_str());
            }
            println!("{}", dir.display());
        }
        Command::Model(ModelCommand::Convert { gguf, out, precision, layout }) => {
            convert(&cache, &gguf, &out, precision, layout, &progress)?
        }
        Command::Generate(args) => generate(&cache, cli.ort_lib, args, &progress)?,
        Command::Bench(args) => bench(&cache, cli.ort_lib, args, &progress)?,
        Command::Summarize(args) => summarize(&cache, cli.ort_lib, args, &progress)?,
        Command::Serve(args) => serve(&cache, cli.ort_lib, args)?,
        Command::Action(args) => action(&cache, cli.ort_lib, args, &progress)?,
    }
    Ok(())
}

fn list_models(cache: &Cache) {
    println!("registry:");
    for spec in models::registry() {
        let default = if spec.name == DEFAULT_MODEL { " (default)" } else { "" };
        println!("  {}{default}: {}", spec.name, spec.description);
    }
    println!("cached in {}:", cache.root().join("models").display());
    let cached = models::list_cached(cache);
    if cached.is_empty() {
        println!("  (none; run `precis model fetch`)");
    }
    for entry in cached {
        println!("  {:<40} {:>6} MB  {}", entry.name, entry.bytes / 1_000_000, entry.path.display());
    }
}

/// Converts into a sibling staging folder, then renames: `out` appears whole or not at all.
fn convert(cache: &Cache, gguf: &Path, out: &Path, precision: Precision, layout: Layout, progress: &Progress) -> Result<()> {
    if out.exists() {
        bail!("{} already exists; choose a new --out folder", out.display());
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".precis-convert-")
        .tempdir_in(parent)
        .with_context(|| format!("cannot write in {}; choose a writable --out", parent.display()))?;
    let built = staging.path().join("model");
    models::convert(cache, gguf, &built, precision, layout, progress)?;
    std::fs::rename(&built, out).with_context(|| format!("cannot move the model into {}", out.display()))?;
    println!("{}", out.display());
    Ok(())
}

fn bench(cache: &Cache, ort_lib: Option<PathBuf>, args: BenchArgs, progress: &Progress) -> Result<()> {
    let (mut model, _) = provision::load_model(cache, ort_lib.as_deref(), &args.model.choice(), progress)?;
    let threads = args.model.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let spec = precis::llm::bench::BenchSpec {
        prompt_tokens: args.prompt_tokens,
        new_tokens: args.new_tokens,
        concurrency: args.concurrency,
    };
    let name = args.model.model.as_deref().unwrap_or(DEFAULT_MODEL);
    let report = precis::llm::bench::run(&mut model, name, threads, &spec)?;
    println!("{}", report.table());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn generate(cache: &Cache, ort_lib: Option<PathBuf>, args: GenerateArgs, progress: &Progress) -> Result<()> {
    let (mut model, _) = provision::load_model(cache, ort_lib.as_deref(), &args.model.choice(), progress)?;
    let prompt = if args.raw {
        args.prompt.clone()
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::new("system", system));
        }
        messages.push(Message::new("user", &args.prompt));
        model.codec.render_chat(&messages)?
    };
    let ids = model.codec.encode(&prompt)?;
    let params = GenerateParams {
        max_new_tokens: args.max_new_tokens,
        stop: args.stop.clone(),
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            repetition_penalty: args.repetition_penalty,
            seed: args.seed,
        },
        deadline: None,
        ignore_eos: false,
    };
    let generation = model.generate(&ids, &params, |piece| {
        let mut stdout = std::io::stdout();
        let _ = stdout.write_all(piece.as_bytes());
        let _ = stdout.flush();
    })?;
    let _ = writeln!(std::io::stdout());
    eprintln!(
        "prompt tokens: {}, new tokens: {}, prefill: {:.1} tok/s, decode: {:.1} tok/s, finish: {:?}",
        generation.prompt_tokens,
        generation.tokens.len(),
        generation.prefill_tokens_per_s(),
        generation.decode_tokens_per_s(),
        generation.finish
    );
    Ok(())
}


fn summarize(cache: &Cache, ort_lib: Option<PathBuf>, args: SummarizeArgs, progress: &Progress) -> Result<()> {
    let source = match &args.config {
        Some(path) => SettingsSource::File(path.clone()),
        None => SettingsSource::WorkTree(args.path.clone()),
    };
    let overrides = Overrides {
        max_files: args.max_files,
        max_lines_per_chunk: args.max_lines_per_chunk,
        language: args.language.clone(),
        model: args.model.model.clone(),
    };
    let settings = Summarizer::settings(&source, &overrides)?;
    let input = if let Some(range) = &args.diff {
        let (base, head) = range
            .split_once("..")
            .filter(|(b, h)| !b.is_empty() && !h.is_empty() && !h.starts_with('.'))
            .with_context(|| format!("--diff `{range}` is not BASE..HEAD; write it like main..HEAD"))?;
        Input::Range { repo: args.path.clone(), base: base.into(), head: head.into() }
    } else if let Some(patch) = &args.patch {
        let (bytes, name) = if patch.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).context("cannot read the patch from stdin")?;
            (bytes, "stdin".to_string())
        } else {
            let bytes = std::fs::read(patch).with_context(|| format!("cannot read patch {}; check the path", patch.display()))?;
            (bytes, patch.display().to_string())
        };
        Input::Patch { bytes, name }
    } else {
        Input::Folder(args.path.clone())
    };
    let summarizer = Summarizer {
        models: Arc::new(args.model.loader(cache, ort_lib, args.parallel, *progress)?),
        cache_dir: (!args.no_cache).then(|| args.summary_cache.clone().unwrap_or_else(|| cache.root().join("summaries"))),
        progress: *progress,
    };
    let summary = summarizer.summarize(&input, &settings, &AuthorContext::default())?;
    let text = match args.format {
        Format::Md => report::to_markdown(&summary, report::COMMENT_LIMIT),
        Format::Json => report::to_json(&summary),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text).with_context(|| format!("cannot write {}; choose a writable --output", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    eprintln!("{}", report::stats_line(&summary.stats));
    Ok(())
}

fn serve(cache: &Cache, ort_lib: Option<PathBuf>, args: ServeArgs) -> Result<()> {
    let settings = precis::app::ServeSettings::check(&precis::app::ServeArgs {
        app_id: args.app_id.clone(),
        private_key: args.private_key.clone(),
        webhook_secret: args.webhook_secret.clone(),
        api_url: args.github_api_url.clone(),
        data_dir: args.data_dir.clone(),
        listen: args.listen.clone(),
        workers: args.workers,
    })?;
    let models = args.model.loader(cache, ort_lib, args.parallel, Progress::hidden())?;
    // The default model loads before the App listens: a bad model fails the start, not the first job.
    models.model(None)?;
    let summarizer = Summarizer { models: Arc::new(models), cache_dir: Some(cache.root().join("summaries")), progress: Progress::hidden() };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(precis::app::serve(settings, summarizer))
}

fn action(cache: &Cache, ort_lib: Option<PathBuf>, args: ActionArgs, progress: &Progress) -> Result<()> {
    let overrides = Overrides { max_files: args.max_files, model: args.model.model.clone(), ..Overrides::default() };
    let env = precis::action::ActionEnv::from_env(args.github_token.clone(), args.config_path.clone(), overrides)?;
    let summarizer = Summarizer {
        models: Arc::new(args.model.loader(cache, ort_lib, args.parallel, *progress)?),
        cache_dir: Some(cache.root().join("summaries")),
        progress: *progress,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(precis::action::run(&env, Arc::new(summarizer)))
}

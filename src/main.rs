use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use sha2::Digest;

use precis::cache::Cache;
use precis::change;
use precis::repo_config::{RepoConfig, CONFIG_PATH};
use precis::report;
use precis::select;
use precis::summarize::{self, Llm, Summary};
use precis::llm::{EngineOptions, GenerateParams, Message, Model, SamplingParams};
use precis::models::{self, Layout, Precision, DEFAULT_MODEL};
use precis::progress::Progress;
use precis::runtime::{self, Flavor};

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
        #[arg(long, value_enum, default_value = "cpu")]
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
    #[arg(long, default_value = precis::repo_config::CONFIG_PATH)]
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Device {
    Auto,
    Cpu,
    Cuda,
}

/// Which model runs where: shared by the commands that run one.
#[derive(Args)]
struct ModelArgs {
    /// A registry model name or a model folder [default: qwen2.5-coder-0.5b-instruct].
    #[arg(long)]
    model: Option<String>,
    /// auto: CUDA when its runtime is provisioned and a GPU answers, else CPU.
    #[arg(long, value_enum, default_value = "auto", env = "PRECIS_DEVICE")]
    device: Device,
    /// Precision of a registry model (default: int8 on CPU, fp16 on CUDA).
    #[arg(long, value_enum)]
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
        #[arg(long, value_enum, default_value = "int8")]
        precision: Precision,
    },
    /// Registry models and what the cache holds.
    List,
    /// Print the folder of a cached model.
    Path {
        #[arg(default_value = DEFAULT_MODEL)]
        name: String,
        #[arg(long, value_enum, default_value = "int8")]
        precision: Precision,
    },
    /// Convert a local qwen2 GGUF file into an ONNX model folder.
    Convert {
        gguf: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "int8")]
        precision: Precision,
        #[arg(long, value_enum, default_value = "genai")]
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

fn main() -> ExitCode {
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
        Command::Serve(args) => serve(&cache, cli.ort_lib, args, &progress)?,
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

/// A model argument is a folder when it names one, else a registry name.
fn resolve_model(cache: &Cache, model: &str, precision: Precision, progress: &Progress) -> Result<PathBuf> {
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    if model.contains('/') {
        bail!("model folder {model} does not exist; pass a model folder or a registry name (see `precis model list`)");
    }
    models::ensure(cache, model, precision, progress)
}

/// Provisions what is missing (runtime, model) and loads the model on the
/// device; also says which folder it came from.
fn load_model(cache: &Cache, ort_lib: Option<PathBuf>, args: &ModelArgs, progress: &Progress) -> Result<(Model, PathBuf)> {
    let ModelArgs { model, device, precision, threads } = args;
    let model = model.as_deref().unwrap_or(DEFAULT_MODEL);
    let (device, precision, threads) = (*device, *precision, *threads);
    let flavor = match device {
        Device::Cpu => Flavor::Cpu,
        Device::Cuda => {
            if !Path::new(NVIDIA_DEVICE).exists() {
                bail!("--device cuda needs an NVIDIA GPU and this machine has none ({NVIDIA_DEVICE} is missing); use --device cpu or auto");
            }
            Flavor::Cuda
        }
        Device::Auto => match cuda_unavailable(cache, ort_lib.as_deref()) {
            None => Flavor::Cuda,
            Some(reason) => {
                tracing::info!("using the CPU: {reason}");
                Flavor::Cpu
            }
        },
    };
    let lib = match ort_lib {
        Some(path) => runtime::locate(cache, Some(&path), flavor)?,
        None => runtime::locate(cache, None, flavor).or_else(|_| runtime::provision(cache, flavor))?,
    };
    let env = runtime::init(&lib)?;
    let load = |flavor: Flavor| -> Result<(Model, PathBuf)> {
        let precision = precision.unwrap_or(Precision::for_device(flavor));
        let dir = resolve_model(cache, model, precision, progress)?;
        Ok((Model::load(&dir, env, &EngineOptions { threads, cuda: flavor == Flavor::Cuda })?, dir))
    };
    match load(flavor) {
        // The GPU build of ONNX Runtime also runs on the CPU.
        Err(err) if device == Device::Auto && flavor == Flavor::Cuda => {
            tracing::info!("using the CPU: CUDA failed ({err:#})");
            load(Flavor::Cpu)
        }
        result => result,
    }
}

/// The control device every NVIDIA driver creates.
const NVIDIA_DEVICE: &str = "/dev/nvidiactl";

/// Why `--device auto` will not try CUDA, if it will not.
fn cuda_unavailable(cache: &Cache, ort_lib: Option<&Path>) -> Option<String> {
    if ort_lib.is_some() {
        return Some("an explicit --ort-lib is used as a CPU runtime; pass --device cuda for a GPU build".into());
    }
    if !Path::new(NVIDIA_DEVICE).exists() {
        return Some(format!("no NVIDIA GPU on this machine ({NVIDIA_DEVICE} is missing)"));
    }
    match runtime::locate(cache, None, Flavor::Cuda) {
        Ok(_) => None,
        Err(_) => Some("the CUDA runtime is not provisioned (run `precis setup --device cuda`)".into()),
    }
}

fn bench(cache: &Cache, ort_lib: Option<PathBuf>, args: BenchArgs, progress: &Progress) -> Result<()> {
    let (mut model, _) = load_model(cache, ort_lib, &args.model, progress)?;
    let threads = args.model.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let spec = precis::bench::BenchSpec {
        prompt_tokens: args.prompt_tokens,
        new_tokens: args.new_tokens,
        concurrency: args.concurrency,
    };
    let name = args.model.model.as_deref().unwrap_or(DEFAULT_MODEL);
    let report = precis::bench::run(&mut model, name, threads, &spec)?;
    println!("{}", report.table());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn generate(cache: &Cache, ort_lib: Option<PathBuf>, args: GenerateArgs, progress: &Progress) -> Result<()> {
    let (mut model, _) = load_model(cache, ort_lib, &args.model, progress)?;
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

fn summarize(cache: &Cache, ort_lib: Option<PathBuf>, mut args: SummarizeArgs, progress: &Progress) -> Result<()> {
    let root = change::work_root(&args.path);
    let config = match (&args.config, &root) {
        (Some(path), _) if !path.is_file() => bail!("config file {} does not exist; fix --config", path.display()),
        (Some(path), _) => RepoConfig::load(path)?,
        (None, Some(root)) => RepoConfig::load(&root.join(CONFIG_PATH))?,
        (None, None) => RepoConfig::default(),
    };
    let config = RepoConfig {
        max_files: args.max_files.unwrap_or(config.max_files),
        max_lines_per_chunk: args.max_lines_per_chunk.unwrap_or(config.max_lines_per_chunk),
        language: args.language.clone().unwrap_or(config.language.clone()),
        ..config
    };
    if config.max_files == 0 || config.max_lines_per_chunk == 0 || args.parallel == 0 {
        bail!("--max-files, --max-lines-per-chunk and --parallel must be at least 1");
    }
    let change = if let Some(range) = &args.diff {
        change::from_range(&args.path, range)?
    } else if let Some(patch) = &args.patch {
        let (bytes, name) = if patch.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).context("cannot read the patch from stdin")?;
            (bytes, "stdin".to_string())
        } else {
            let bytes = std::fs::read(patch).with_context(|| format!("cannot read patch {}; check the path", patch.display()))?;
            (bytes, patch.display().to_string())
        };
        change::from_patch(&bytes, &name)?
    } else {
        change::from_directory(&args.path, config.max_file_bytes)?
    };
    let source = change.source.clone();
    let attributes = root.and_then(|r| std::fs::read_to_string(r.join(".gitattributes")).ok()).unwrap_or_default();
    let selection = select::select(change, &config, &attributes)?;
    tracing::info!("{} file(s) to summarize, {} listed", selection.files.len(), selection.listed.len());

    args.model.model = args.model.model.take().or(config.model.clone());
    let summary = if selection.files.is_empty() {
        Summary::without_model(source, selection.listed)
    } else {
        let (model, dir) = load_model(cache, ort_lib, &args.model, progress)?;
        let llm = Llm::new(model, model_id(&dir)?, args.parallel);
        let cache_dir = (!args.no_cache).then(|| args.summary_cache.clone().unwrap_or_else(|| cache.root().join("summaries")));
        let options = summarize::Options::from_config(&config, cache_dir);
        summarize::summarize(&llm, source, selection, &options, progress)?
    };
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

/// Identifies a model folder's answers in the summary cache: its name, its
/// configuration and the sizes of its weights.
fn model_id(dir: &Path) -> Result<String> {
    let mut hash = sha2::Sha256::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read model folder {}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        hash.update(name.as_bytes());
        if name.ends_with(".json") {
            hash.update(std::fs::read(entry.path()).unwrap_or_default());
        } else {
            hash.update(entry.metadata().map(|m| m.len()).unwrap_or(0).to_le_bytes());
        }
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    Ok(format!("{name}@{}", &hex::encode(hash.finalize())[..12]))
}

/// Checks every setting before the model loads: a bad one fails at once.
fn serve_settings(args: &ServeArgs) -> Result<precis::server::ServeSettings> {
    let app_id = args.app_id.as_deref().filter(|s| !s.trim().is_empty()).context(
        "PRECIS_APP_ID is not set; set it (or --app-id) to the App's id from its settings page",
    )?;
    let app_id: u64 = app_id.trim().parse().map_err(|_| anyhow::anyhow!("PRECIS_APP_ID `{app_id}` is not a number; use the App's numeric id"))?;
    let key = args.private_key.as_deref().filter(|s| !s.trim().is_empty()).context(
        "PRECIS_PRIVATE_KEY is not set; set it (or --private-key) to the App's private key, as PEM text or a file path",
    )?;
    let pem = if key.trim_start().starts_with("-----BEGIN") {
        key.to_string()
    } else {
        std::fs::read_to_string(key).with_context(|| format!("PRECIS_PRIVATE_KEY names {key}, which cannot be read; give the PEM text or a readable file"))?
    };
    let app = precis::github::AppCredentials::new(app_id, &pem)?;
    let secret = args.webhook_secret.as_deref().filter(|s| !s.is_empty()).context(
        "PRECIS_WEBHOOK_SECRET is not set; set it (or --webhook-secret) to the secret in the App's webhook settings",
    )?;
    let listen = args.listen.parse().map_err(|_| anyhow::anyhow!("PRECIS_LISTEN `{}` is not an address; use HOST:PORT, e.g. 0.0.0.0:8080", args.listen))?;
    precis::github::GitHub::check_api_url(&args.github_api_url)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create PRECIS_DATA_DIR {}; choose a writable folder", args.data_dir.display()))?;
    Ok(precis::server::ServeSettings {
        listen,
        secret: secret.as_bytes().to_vec(),
        data_dir: args.data_dir.clone(),
        api_url: args.github_api_url.clone(),
        app,
        workers: args.workers,
    })
}

fn serve(cache: &Cache, ort_lib: Option<PathBuf>, args: ServeArgs, progress: &Progress) -> Result<()> {
    let settings = serve_settings(&args)?;
    let (model, dir) = load_model(cache, ort_lib, &args.model, progress)?;
    let llm = Llm::new(model, model_id(&dir)?, args.parallel.max(1));
    let pipeline = precis::pipeline::Pipeline { llm, cache_dir: Some(cache.root().join("summaries")), max_files: None };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(precis::server::serve(settings, pipeline))
}

fn action(cache: &Cache, ort_lib: Option<PathBuf>, args: ActionArgs, progress: &Progress) -> Result<()> {
    let mut env = precis::action::ActionEnv::from_env(args.github_token.clone())?;
    env.config_path = args.config_path.clone();
    let (model, dir) = load_model(cache, ort_lib, &args.model, progress)?;
    let llm = Llm::new(model, model_id(&dir)?, args.parallel.max(1));
    let pipeline = precis::pipeline::Pipeline { llm, cache_dir: Some(cache.root().join("summaries")), max_files: args.max_files };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(precis::action::run(&env, std::sync::Arc::new(pipeline)))
}

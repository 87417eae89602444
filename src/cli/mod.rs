//! The command line: clap types only, turned into library calls. Every
//! behaviour lives in the library; this module parses and dispatches.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;

use precis::language_model::ModelSource;
use precis::llm::{GenerateParams, Message, SamplingParams};
use precis::pipeline::{report, AuthorContext, Input, Overrides, SettingsSource, Summarizer};
use precis::progress::Progress;
use precis::provision::cache::Cache;
use precis::provision::models::{self, Layout, Precision, DEFAULT_MODEL};
use precis::provision::runtime;
use precis::provision::{self as provision, ModelLoader};

mod args;
use args::{
    ActionArgs, AppCommand, AppCreateArgs, BenchArgs, Cli, Command, Format, GenerateArgs, ModelCommand, ServeArgs,
    ServingArgs, SummarizeArgs,
};

impl ServingArgs {
    /// The models a command may load, the default one being this choice's.
    fn loader(&self, cache: &Cache, ort_lib: Option<PathBuf>, progress: Progress) -> Result<ModelLoader> {
        if self.parallel == 0 {
            bail!("--parallel must be at least 1");
        }
        let cache = Cache::at(cache.root().to_path_buf());
        Ok(ModelLoader::new(cache, ort_lib, self.model.choice(), self.parallel, progress))
    }
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
    // Progress lines show by default: off a terminal they are the only sign of long work.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},precis::progress=info,ort=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
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
        Command::Model(ModelCommand::Add { name, gguf, precision }) => {
            let dir = models::add(&cache, &name, &gguf, precision, &progress)?;
            println!("{}", dir.display());
        }
        Command::Model(ModelCommand::Remove { name }) => models::remove(&cache, &name)?,
        Command::Model(ModelCommand::List) => list_models(&cache),
        Command::Model(ModelCommand::Path { name, precision }) => {
            models::origin(&cache, &name)?;
            let dir = models::model_dir(&cache, &name, precision);
            if !models::is_built(&dir) {
                bail!(
                    "{name} ({}) is not in the cache; run `precis model fetch {name} --precision {}`",
                    precision.as_str(),
                    precision.as_str()
                );
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
        Command::App(AppCommand::Create(args)) => app_create(args)?,
    }
    Ok(())
}

fn list_models(cache: &Cache) {
    println!("registry:");
    for spec in models::registry() {
        let default = match spec.name.as_str() {
            name if name == DEFAULT_MODEL => " (auto on a CPU)",
            name if name == provision::GPU_MODEL => " (auto on a GPU)",
            _ => "",
        };
        println!("  {}{default}: {}", spec.name, spec.description);
    }
    let added = models::added_models(cache);
    if !added.is_empty() {
        println!("added:");
    }
    for model in added {
        println!(
            "  {}: from {} ({} MB, sha256 {})",
            model.name,
            model.source,
            model.size / 1_000_000,
            model.short_sha256()
        );
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
fn convert(
    cache: &Cache,
    gguf: &Path,
    out: &Path,
    precision: Precision,
    layout: Layout,
    progress: &Progress,
) -> Result<()> {
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
    let threads =
        args.model.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let spec = precis::llm::bench::BenchSpec {
        prompt_tokens: args.prompt_tokens,
        new_tokens: args.new_tokens,
        concurrency: args.concurrency,
    };
    let name = provision::chosen_model(cache, ort_lib.as_deref(), args.model.device, args.model.model.as_deref());
    let report = precis::llm::bench::run(&mut model, &name, threads, &spec)?;
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
        ..GenerateParams::default()
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
        model: args.serving.model.model.clone(),
        quality: args.quality,
    };
    let settings = Summarizer::settings(&source, &overrides)?;
    // A path that cannot be written is found now, not after all the model work.
    if let Some(path) = &args.output {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !folder.is_dir() {
            bail!(
                "--output {}: the folder {} does not exist; create it or choose another path",
                path.display(),
                folder.display()
            );
        }
    }
    let input = if let Some(range) = &args.diff {
        // The library's one reading of a range, its error in one line.
        let range: precis::pipeline::change::Range = range.parse().context("--diff")?;
        Input::Range { repo: args.path.clone(), base: range.base, head: range.head }
    } else if let Some(patch) = &args.patch {
        // Read no more than a patch may have: a larger one is refused, not loaded.
        let limit = precis::pipeline::change::MAX_PATCH_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        let name = if patch.as_os_str() == "-" {
            std::io::Read::read_to_end(&mut std::io::Read::take(std::io::stdin(), limit), &mut bytes)
                .context("cannot read the patch from stdin")?;
            "stdin".to_string()
        } else {
            let file = std::fs::File::open(patch)
                .with_context(|| format!("cannot read patch {}; check the path", patch.display()))?;
            std::io::Read::read_to_end(&mut std::io::Read::take(file, limit), &mut bytes)
                .with_context(|| format!("cannot read patch {}; check the path", patch.display()))?;
            patch.display().to_string()
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            bail!("the patch from {name} is empty, so there is nothing to summarize; pass the output of `git diff` or `git format-patch`");
        }
        Input::Patch { bytes, name }
    } else {
        Input::Folder(args.path.clone())
    };
    let summarizer = Summarizer::new(
        Arc::new(args.serving.loader(cache, ort_lib, *progress)?),
        (!args.no_cache).then(|| args.summary_cache.clone().unwrap_or_else(|| cache.root().join("summaries"))),
        *progress,
    );
    // Given words replace what the patch or the commits say; none given, the pipeline reads those.
    let author = if args.title.is_some() || args.description.is_some() {
        let from_patch = match &input {
            Input::Patch { bytes, .. } => AuthorContext::from_mail(bytes).unwrap_or_default(),
            _ => AuthorContext::default(),
        };
        from_patch.with(args.title.clone(), args.description.clone())
    } else {
        AuthorContext::default()
    };
    let summary = summarizer.summarize(&input, &settings, &author)?;
    let text = match args.format {
        Format::Md => report::to_markdown(&summary, report::COMMENT_LIMIT),
        Format::Json => report::to_json(&summary),
    };
    match &args.output {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("cannot write {}; choose a writable --output", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    eprintln!("{}", report::stats_line(&summary.stats));
    Ok(())
}

fn app_create(args: AppCreateArgs) -> Result<()> {
    let web_url = args.github_url.trim_end_matches('/').to_string();
    let api_url = args.api_url.unwrap_or_else(|| {
        if web_url == "https://github.com" {
            "https://api.github.com".into()
        } else {
            format!("{web_url}/api/v3")
        }
    });
    let options = precis::app::setup::CreateOptions {
        web_url,
        api_url,
        organization: args.org,
        name: args.name,
        webhook_url: args.webhook_url,
        listen: args.listen,
        out: args.out,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let created = runtime.block_on(precis::app::setup::create(options, |page| {
        eprintln!("Open {page} in a browser signed in to GitHub; it sends you on to create the App.");
    }))?;
    println!("Created the GitHub App {} (id {}).", created.slug, created.id);
    println!(
        "Settings: {} (private key: {}), readable by you only.",
        created.settings_file.display(),
        created.key_file.display()
    );
    println!("Install it on your repositories: {}/installations/new", created.html_url);
    println!("Then start it: set -a; . {}; set +a; precis serve", created.settings_file.display());
    Ok(())
}

fn serve(cache: &Cache, ort_lib: Option<PathBuf>, args: ServeArgs) -> Result<()> {
    let settings = precis::app::ServeSettings::check(&args.app)?;
    let budget = args.budget.budget()?;
    // A web replica never loads the model. Elsewhere the default model loads
    // before the App listens: a bad model fails the start, not the first job.
    let summarizer = if settings.role.runs_jobs() {
        let models = args.serving.loader(cache, ort_lib, Progress::log())?;
        models.model(None)?;
        let mut summarizer = Summarizer::new(Arc::new(models), Some(cache.root().join("summaries")), Progress::log());
        summarizer.time_budget = Some(budget);
        Some(summarizer)
    } else {
        None
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let served = runtime.block_on(precis::app::serve(settings, summarizer));
    // Work still stuck in a blocking thread after the grace period (a fetch,
    // a model call) must not keep the process alive.
    runtime.shutdown_timeout(precis::app::SHUTDOWN_TIMEOUT);
    served
}

fn action(cache: &Cache, ort_lib: Option<PathBuf>, args: ActionArgs, progress: &Progress) -> Result<()> {
    let overrides = Overrides {
        max_files: args.max_files,
        model: args.serving.model.model.clone(),
        quality: args.quality,
        ..Overrides::default()
    };
    let budget = args.budget.budget()?;
    let env = precis::action::ActionEnv::from_env(args.github_token.clone(), args.config_path.clone(), overrides)?;
    // The model as the Action reads it (a relative folder is the workspace's).
    let mut args = args;
    args.serving.model.model = env.overrides.model.clone();
    let mut summarizer = Summarizer::new(
        Arc::new(args.serving.loader(cache, ort_lib, *progress)?),
        Some(cache.root().join("summaries")),
        *progress,
    );
    summarizer.time_budget = Some(budget);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(precis::action::run(&env, Arc::new(summarizer)))
}

//! Everything a model needs before it answers: the cache folder, registry
//! packages (pip), the ONNX Runtime library, registry models (fetch and
//! convert), and the device policy that turns a model setting into a
//! loaded, served model.

pub mod cache;
pub mod models;
pub mod pip;
pub mod runtime;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use sha2::Digest;

use crate::language_model::{LanguageModel, ModelSource};
use crate::llm::{EngineOptions, Model, Served};
use crate::progress::Progress;
use cache::Cache;
use models::{Precision, DEFAULT_MODEL};
use runtime::Flavor;

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Device {
    /// CUDA when its runtime is provisioned and a GPU answers, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

/// Which model runs where, as the user asked for it.
#[derive(Clone, Debug)]
pub struct ModelChoice {
    /// A registry or added model's name, or a model folder written as a path ([`ModelName`]); `None`: the default model.
    pub model: Option<String>,
    pub device: Device,
    /// `None`: int8 on the CPU, fp16 on CUDA.
    pub precision: Option<Precision>,
    /// Intra-op threads; `None`: one per core.
    pub threads: Option<usize>,
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

/// What a model setting names. A bare name (no `/` or `\`, not starting with
/// `.` or `~`) is always a registry model, even where a folder of that name
/// exists; a folder is used only when written as a path (`./x`, `/abs/x`, `x/y`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelName<'a> {
    Registry(&'a str),
    Folder(&'a Path),
}

impl ModelName<'_> {
    pub fn parse(model: &str) -> ModelName<'_> {
        if model.contains(['/', '\\']) || model.starts_with(['.', '~']) {
            ModelName::Folder(Path::new(model))
        } else {
            ModelName::Registry(model)
        }
    }

    pub fn is_folder(self) -> bool {
        matches!(self, ModelName::Folder(_))
    }
}

/// The folder a model setting names: a registry model is fetched and
/// converted on first use; a folder must exist.
pub fn resolve_model(cache: &Cache, model: &str, precision: Precision, progress: &Progress) -> Result<PathBuf> {
    match ModelName::parse(model) {
        ModelName::Folder(dir) if dir.is_dir() => Ok(dir.to_path_buf()),
        ModelName::Folder(_) => bail!(
            "model folder {model} does not exist (`~` is not expanded); pass an existing model folder or a registry name (see `precis model list`)"
        ),
        ModelName::Registry(name) => models::ensure(cache, name, precision, progress),
    }
}

/// Whether a variable of precis's environment may reach a child process:
/// never a secret (a token, key, password or the webhook secret), nor an
/// Action input or precis's own settings (a database URL holds a password).
/// pip's configuration (`PIP_*`), proxies, certificates, `HOME` and `PATH` pass.
fn passes_to_child(name: &OsStr) -> bool {
    const OWN: [&str; 3] = ["PRECIS_", "INPUT_", "ACTIONS_"];
    const SECRET: [&str; 7] = ["TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "DATABASE_URL"];
    let name = name.to_string_lossy().to_ascii_uppercase();
    name.starts_with("PIP_")
        || !(OWN.iter().any(|p| name.starts_with(p)) || SECRET.iter().any(|word| name.contains(word)))
}

/// Every child process precis starts is built here: run in `workdir` (a
/// folder of the cache, never the checkout precis was started in), with
/// the environment less every variable [`passes_to_child`] holds back.
pub fn child_command(program: &Path, workdir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(workdir).env_clear().envs(std::env::vars_os().filter(|(name, _)| passes_to_child(name)));
    command
}

/// Provisions what is missing (runtime, model) and loads the model on the
/// device the choice allows; also says which folder it came from.
pub fn load_model(
    cache: &Cache,
    ort_lib: Option<&Path>,
    choice: &ModelChoice,
    progress: &Progress,
) -> Result<(Model, PathBuf)> {
    let model = &chosen_model(cache, ort_lib, choice.device, choice.model.as_deref());
    let flavor = match choice.device {
        Device::Cpu => Flavor::Cpu,
        Device::Cuda => {
            if !Path::new(NVIDIA_DEVICE).exists() {
                bail!("--device cuda needs an NVIDIA GPU and this machine has none ({NVIDIA_DEVICE} is missing); use --device cpu or auto");
            }
            Flavor::Cuda
        }
        Device::Auto => match cuda_unavailable(cache, ort_lib) {
            None => Flavor::Cuda,
            Some(reason) => {
                tracing::info!("using the CPU: {reason}");
                Flavor::Cpu
            }
        },
    };
    let lib = match ort_lib {
        Some(path) => runtime::locate(cache, Some(path), flavor)?,
        None => runtime::locate(cache, None, flavor).or_else(|_| runtime::provision(cache, flavor))?,
    };
    let env = runtime::init(&lib)?;
    let load = |flavor: Flavor| -> Result<(Model, PathBuf)> {
        let precision = choice.precision.unwrap_or(Precision::for_device(flavor));
        let dir = resolve_model(cache, model, precision, progress)?;
        Ok((Model::load(&dir, env, &EngineOptions { threads: choice.threads, cuda: flavor == Flavor::Cuda })?, dir))
    };
    match load(flavor) {
        // The GPU build of ONNX Runtime also runs on the CPU.
        Err(err) if choice.device == Device::Auto && flavor == Flavor::Cuda => {
            tracing::info!("using the CPU: CUDA failed ({err:#})");
            load(Flavor::Cpu)
        }
        result => result,
    }
}

/// Identifies a model folder's answers in the summary cache: its name, its
/// configuration and the sizes of its weights.
pub fn model_id(dir: &Path) -> Result<String> {
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

/// Loads a model and puts it on its scheduler thread.
pub fn serve_model(
    cache: &Cache,
    ort_lib: Option<&Path>,
    choice: &ModelChoice,
    parallel: usize,
    progress: &Progress,
) -> Result<Served> {
    let (model, dir) = load_model(cache, ort_lib, choice, progress)?;
    Ok(Served::new(model, model_id(&dir)?, parallel))
}

/// The models of a long-running process (the App, the Action): the default
/// one, and any other a repository's `model:` names, loaded on first use and
/// kept.
pub struct ModelLoader {
    cache: Cache,
    ort_lib: Option<PathBuf>,
    choice: ModelChoice,
    parallel: usize,
    progress: Progress,
    loaded: Mutex<HashMap<String, Arc<dyn LanguageModel>>>,
}

impl ModelLoader {
    pub fn new(
        cache: Cache,
        ort_lib: Option<PathBuf>,
        choice: ModelChoice,
        parallel: usize,
        progress: Progress,
    ) -> ModelLoader {
        ModelLoader { cache, ort_lib, choice, parallel, progress, loaded: Mutex::new(HashMap::new()) }
    }
}

/// The model `auto` picks: the 1.5B where a GPU runs it (as fast as the
/// 0.5B on a CPU, and better), the 0.5B on a CPU (the 1.5B is about 3×
/// slower there; see docs/QUALITY.md for what each writes).
pub const GPU_MODEL: &str = "qwen2.5-coder-1.5b-instruct";

/// The one model choice of every command: a name as given; `auto` (or
/// none) is the 1.5B where a GPU runs it, the 0.5B on a CPU.
pub fn chosen_model(cache: &Cache, ort_lib: Option<&Path>, device: Device, name: Option<&str>) -> String {
    match name {
        Some(name) if name != "auto" => name.to_string(),
        _ => {
            let gpu = match device {
                Device::Cpu => false,
                Device::Cuda => true,
                Device::Auto => cuda_unavailable(cache, ort_lib).is_none(),
            };
            if gpu { GPU_MODEL } else { DEFAULT_MODEL }.to_string()
        }
    }
}

impl ModelSource for ModelLoader {
    fn model(&self, name: Option<&str>) -> Result<Arc<dyn LanguageModel>> {
        let name = chosen_model(
            &self.cache,
            self.ort_lib.as_deref(),
            self.choice.device,
            name.or(self.choice.model.as_deref()),
        );
        // A folder comes only from the operator (--model, the Action's model input),
        // never from a repository's settings.
        if ModelName::parse(&name).is_folder() && self.choice.model.as_deref() != Some(name.as_str()) {
            bail!("model `{name}` is a path; a repository's settings name registry models or models added with `precis model add` (see `precis model list`), and a model folder is given with --model");
        }
        // Loading holds the lock: two jobs asking for a new model load it once.
        let mut loaded = self.loaded.lock().map_err(|_| anyhow::anyhow!("a model failed to load earlier"))?;
        if let Some(model) = loaded.get(&name) {
            return Ok(model.clone());
        }
        tracing::info!("loading model {name}");
        let choice = ModelChoice { model: Some(name.clone()), ..self.choice.clone() };
        let served: Arc<dyn LanguageModel> =
            Arc::new(serve_model(&self.cache, self.ort_lib.as_deref(), &choice, self.parallel, &self.progress)?);
        loaded.insert(name, served.clone());
        Ok(served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value is named the same on the command line and in paths and logs.
    #[test]
    fn flag_values_and_their_names_agree() {
        fn agree<T: clap::ValueEnum + std::fmt::Display>() {
            for value in T::value_variants() {
                assert_eq!(value.to_possible_value().unwrap().get_name(), value.to_string());
            }
        }
        agree::<Device>();
        agree::<Flavor>();
        agree::<Precision>();
        agree::<models::Layout>();
        agree::<crate::app::Role>();
    }

    #[test]
    fn a_bare_name_is_a_registry_model_and_a_path_a_folder() {
        for name in ["qwen2.5-coder-0.5b-instruct", "somename", "a..b"] {
            assert_eq!(ModelName::parse(name), ModelName::Registry(name), "{name}");
        }
        for path in ["./x", "../x", ".x", "/abs/x", "x/y", "~/x", "~x", "x\\y"] {
            assert!(ModelName::parse(path).is_folder(), "{path}");
        }
    }

    /// Only the operator's own --model names a folder: a path that comes
    /// with a job (a repository's settings) is refused before anything loads.
    #[test]
    fn the_loader_refuses_a_folder_the_operator_did_not_name() {
        let tmp = tempfile::tempdir().unwrap();
        let choice = |model: Option<&str>| ModelChoice {
            model: model.map(str::to_string),
            device: Device::Cpu,
            precision: None,
            threads: None,
        };
        for operator in [None, Some("qwen2.5-coder-0.5b-instruct"), Some("./operators")] {
            let loader =
                ModelLoader::new(Cache::at(tmp.path().join("precis")), None, choice(operator), 1, Progress::hidden());
            for path in ["./model", "/etc", "~x"] {
                let err = loader.model(Some(path)).err().expect("refused").to_string();
                assert!(err.contains("is a path") && err.contains("--model") && !err.contains('\n'), "{err}");
            }
        }
        assert!(!tmp.path().join("precis").exists(), "nothing was provisioned");
    }

    #[test]
    fn secrets_never_reach_a_child_and_pips_configuration_does() {
        for name in [
            "PRECIS_GITHUB_TOKEN",
            "GITHUB_TOKEN",
            "INPUT_TOKEN",
            "INPUT_GITHUB_TOKEN",
            "INPUT_MODEL",
            "PRECIS_PRIVATE_KEY",
            "PRECIS_WEBHOOK_SECRET",
            "PRECIS_METRICS_TOKEN",
            "PRECIS_DATABASE_URL",
            "DATABASE_URL",
            "ACTIONS_RUNTIME_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "AWS_SECRET_ACCESS_KEY",
            "npm_config__authToken",
            "PGPASSWORD",
        ] {
            assert!(!passes_to_child(OsStr::new(name)), "{name} is held back");
        }
        for name in [
            "PATH",
            "HOME",
            "LANG",
            "HTTPS_PROXY",
            "https_proxy",
            "NO_PROXY",
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "PIP_INDEX_URL",
            "PIP_KEYRING_PROVIDER",
            "PIP_CERT",
            "GITHUB_WORKSPACE",
        ] {
            assert!(passes_to_child(OsStr::new(name)), "{name} passes");
        }
    }
}

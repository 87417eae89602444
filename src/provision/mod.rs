//! Everything a model needs before it answers: the cache folder, registry
//! packages (pip), the ONNX Runtime library, registry models (fetch and
//! convert), and the device policy that turns a model setting into a
//! loaded, served model.

pub mod cache;
pub mod models;
pub mod pip;
pub mod runtime;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// CUDA when its runtime is provisioned and a GPU answers, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl std::str::FromStr for Device {
    type Err = anyhow::Error;
    fn from_str(text: &str) -> Result<Device> {
        match text {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            other => bail!("unknown device `{other}`; use auto, cpu or cuda"),
        }
    }
}

/// Which model runs where, as the user asked for it.
#[derive(Clone, Debug)]
pub struct ModelChoice {
    /// A registry name or a model folder; `None`: the default model.
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

/// A model setting is a folder when it names one, else a registry name
/// (fetched and converted on first use).
pub fn resolve_model(cache: &Cache, model: &str, precision: Precision, progress: &Progress) -> Result<PathBuf> {
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
/// device the choice allows; also says which folder it came from.
pub fn load_model(
    cache: &Cache,
    ort_lib: Option<&Path>,
    choice: &ModelChoice,
    progress: &Progress,
) -> Result<(Model, PathBuf)> {
    let model = choice.model.as_deref().unwrap_or(DEFAULT_MODEL);
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

impl ModelLoader {
    fn auto(&self) -> &'static str {
        let gpu = match self.choice.device {
            Device::Cpu => false,
            Device::Cuda => true,
            Device::Auto => cuda_unavailable(&self.cache, self.ort_lib.as_deref()).is_none(),
        };
        if gpu {
            GPU_MODEL
        } else {
            DEFAULT_MODEL
        }
    }
}

impl ModelSource for ModelLoader {
    fn model(&self, name: Option<&str>) -> Result<Arc<dyn LanguageModel>> {
        let name = name.or(self.choice.model.as_deref()).unwrap_or("auto");
        let name = if name == "auto" { self.auto() } else { name }.to_string();
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

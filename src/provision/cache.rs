//! The on-disk cache: `$XDG_CACHE_HOME/precis` (default `~/.cache/precis`).
//!
//! Everything precis downloads or builds lives here. Builds happen in a
//! staging folder under `tmp/` on the same filesystem and are renamed into
//! place, so an interrupted build never leaves a half-written entry.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs4::fs_std::FileExt;

pub struct Cache {
    root: PathBuf,
}

/// Holds the cache's exclusive lock until dropped.
pub struct CacheLock {
    _file: File,
}

impl Cache {
    /// The cache of this user: `$XDG_CACHE_HOME/precis`, else `$HOME/.cache/precis`.
    pub fn from_env() -> Result<Cache> {
        let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".cache"),
                None => {
                    bail!("cannot locate a cache folder: neither XDG_CACHE_HOME nor HOME is set; set XDG_CACHE_HOME")
                }
            },
        };
        // Absolute: children (pip, the converter) run in a folder of the cache, not here.
        let root = std::path::absolute(base.join("precis"))
            .with_context(|| format!("cannot resolve the cache folder {}; set XDG_CACHE_HOME", base.display()))?;
        Ok(Cache::at(root))
    }

    pub fn at(root: PathBuf) -> Cache {
        Cache { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the cache root and takes the lock that serialises every writer
    /// (two `precis model fetch` at once must not download twice).
    pub fn lock(&self) -> Result<CacheLock> {
        self.create_dir(&self.root)?;
        let path = self.root.join(".lock");
        let file = File::create(&path).map_err(|e| self.unwritable(&path, e))?;
        file.lock_exclusive().with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(CacheLock { _file: file })
    }

    /// The cache's scratch folder (`tmp/`): staging folders go here, and
    /// child processes run here, never in a folder the user or a checkout chose.
    pub fn tmp_dir(&self) -> Result<PathBuf> {
        let tmp = self.root.join("tmp");
        self.create_dir(&tmp)?;
        Ok(tmp)
    }

    /// A fresh staging folder for an entry that will be renamed into place.
    pub fn staging(&self) -> Result<tempfile::TempDir> {
        let tmp = self.tmp_dir()?;
        tempfile::Builder::new().prefix("build-").tempdir_in(&tmp).map_err(|e| self.unwritable(&tmp, e))
    }

    /// Fails early, with the fix, when the cache's filesystem has less than `bytes` free.
    pub fn require_space(&self, bytes: u64, what: &str) -> Result<()> {
        self.create_dir(&self.root)?;
        let free = fs4::available_space(&self.root)
            .with_context(|| format!("cannot read free space of {}", self.root.display()))?;
        if free < bytes {
            bail!(
                "not enough disk space for {what}: {} MB needed in {}, {} MB free; free some space or set XDG_CACHE_HOME to a larger disk",
                bytes / 1_000_000 + 1,
                self.root.display(),
                free / 1_000_000
            );
        }
        Ok(())
    }

    /// Creates `dir`; the cache's root is its owner's only (it holds summaries of private code).
    pub fn create_dir(&self, dir: &Path) -> Result<()> {
        let new_root = !self.root.exists();
        fs::create_dir_all(dir).map_err(|e| self.unwritable(dir, e))?;
        if new_root {
            private(&self.root).map_err(|e| self.unwritable(&self.root, e))?;
        }
        Ok(())
    }

    fn unwritable(&self, path: &Path, err: std::io::Error) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot write the cache at {} ({err}); make it writable or set XDG_CACHE_HOME to a writable folder",
            path.display()
        )
    }
}

/// Makes a folder readable by its owner only.
pub fn private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Moves a finished staging folder (or file) to `dest` in one rename.
/// A stale `dest` from an older build is replaced.
pub fn publish(staged: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if dest.is_dir() {
        fs::remove_dir_all(dest).with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    fs::rename(staged, dest).with_context(|| format!("cannot move the build into {}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_space_names_the_need_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::at(tmp.path().join("precis"));
        let err = cache.require_space(u64::MAX, "the model").unwrap_err().to_string();
        assert!(err.starts_with("not enough disk space for the model"), "{err}");
        assert!(err.contains("XDG_CACHE_HOME"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn publish_replaces_an_older_build_in_one_rename() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("models/m");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("old"), b"1").unwrap();
        let staged = tmp.path().join("staged");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("new"), b"2").unwrap();
        publish(&staged, &dest).unwrap();
        assert!(dest.join("new").is_file() && !dest.join("old").exists() && !staged.exists());
    }
}

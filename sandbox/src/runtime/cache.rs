//! Compiling components, with precompiled artifacts cached on disk across restarts.
//!
//! An artifact's file name is the SHA-256 of the wasm bytes plus the engine's compatibility
//! hash, so a changed module or a changed wasmtime/config never loads a stale artifact.
//! Loading an artifact skips validation (it is native code), so the cache directory must be
//! writable only by the sandbox: it is created with mode 0700 and artifacts are written
//! atomically (temp file, fsync, rename).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a component came from, for the caller's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Compiled,
    Cached,
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly component (a core module or another file?)")]
    NotAComponent { path: PathBuf },
    #[error("{path} failed to compile: {message}")]
    Compile { path: PathBuf, message: String },
}

/// Compiles components for one engine, reusing cached artifacts.
pub struct ComponentCache {
    engine: Engine,
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// `dir` is created if missing; `None` disables the on-disk cache.
    pub fn new(engine: Engine, dir: Option<PathBuf>) -> std::io::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(Self { engine, dir })
    }

    /// Loads the component at `path`, from the artifact cache when possible. Returns the
    /// component, the SHA-256 of its bytes (hex) and whether it was compiled now.
    pub fn load(&self, path: &Path) -> Result<(Component, String, Origin), CompileError> {
        let bytes = std::fs::read(path).map_err(|source| CompileError::Read {
            path: path.to_owned(),
            source,
        })?;
        if !is_component(&bytes) {
            return Err(CompileError::NotAComponent {
                path: path.to_owned(),
            });
        }
        let digest = hex(&Sha256::digest(&bytes));
        let artifact = self
            .dir
            .as_ref()
            .map(|d| d.join(self.artifact_name(&digest)));
        if let Some(c) = self.cached(artifact.as_deref()) {
            return Ok((c, digest, Origin::Cached));
        }
        // Processes sharing the cache (replicas starting together) compile a component once:
        // the others wait for the first, then load its artifact. Held until this one is written.
        let _compiling = artifact.as_deref().and_then(lock_for);
        if let Some(c) = self.cached(artifact.as_deref()) {
            return Ok((c, digest, Origin::Cached));
        }
        let compiled =
            self.engine
                .precompile_component(&bytes)
                .map_err(|e| CompileError::Compile {
                    path: path.to_owned(),
                    message: format!("{e:#}"),
                })?;
        if let Some(artifact) = &artifact
            && let Err(e) = write_atomically(artifact, &compiled)
        {
            tracing::warn!(artifact = %artifact.display(), error = %e, "cannot cache compiled artifact");
        }
        // SAFETY: `compiled` was produced just now by this engine.
        let component =
            unsafe { Component::deserialize(&self.engine, &compiled) }.map_err(|e| {
                CompileError::Compile {
                    path: path.to_owned(),
                    message: format!("{e:#}"),
                }
            })?;
        Ok((component, digest, Origin::Compiled))
    }

    /// The cached artifact, if there is a usable one.
    fn cached(&self, artifact: Option<&Path>) -> Option<Component> {
        let artifact = artifact.filter(|a| a.exists())?;
        // SAFETY: the artifact was written by `Engine::precompile_component` of an engine
        // with the same compatibility hash (it is in the file name), into a directory only
        // this process's user can write.
        match unsafe { Component::deserialize_file(&self.engine, artifact) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(artifact = %artifact.display(), error = %e,
                    "ignoring unusable cached artifact; recompiling");
                None
            }
        }
    }

    fn artifact_name(&self, digest: &str) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        format!("{digest}-{:016x}.cwasm", h.finish())
    }
}

/// Whether `bytes` start with the component-model binary header (layer 1), not a core module.
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[..4] == b"\0asm" && bytes[6..8] == [0x01, 0x00]
}

/// An exclusive lock on `<artifact>.lock`, waited for; `None` where locking is not possible
/// (then processes may compile the same component twice, which is only slower).
fn lock_for(artifact: &Path) -> Option<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(artifact.with_extension("lock"))
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_header_is_told_apart_from_core_modules() {
        assert!(is_component(b"\0asm\x0d\x00\x01\x00"));
        assert!(!is_component(b"\0asm\x01\x00\x00\x00"));
        assert!(!is_component(b"\x7fELF\x02\x01\x01\x00"));
        assert!(!is_component(b"\0as"));
    }

    #[test]
    fn a_core_module_is_refused_with_a_clear_message() {
        let dir = std::env::temp_dir().join(format!("mcp-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("core.wasm");
        std::fs::write(&path, b"\0asm\x01\x00\x00\x00").unwrap();
        let engine = Engine::default();
        let cache = ComponentCache::new(engine, None).unwrap();
        let err = cache.load(&path).err().unwrap();
        assert!(
            err.to_string().contains("is not a WebAssembly component"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

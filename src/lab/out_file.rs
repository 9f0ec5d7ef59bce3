//! A file the user asked for (`--plot FILE.svg`), checked before any work
//! and written whole at the end: into a new temporary file beside it, then
//! renamed over it. A run that fails half-way leaves the old file as it
//! was; a symbolic link planted at the path is replaced, not followed; and
//! a reader never sees half a file.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};

use crate::lab::error::Op;

/// The errno's name of an error that tempfile may have wrapped with its
/// path (which then no longer carries the number): by its kind.
fn errno_of(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    if let Some(name) = crate::lab::error::errno_name(e) {
        return name;
    }
    match e.kind() {
        NotFound => "ENOENT".into(),
        PermissionDenied => "EACCES".into(),
        ReadOnlyFilesystem => "EROFS".into(),
        NotADirectory => "ENOTDIR".into(),
        _ => e.kind().to_string(),
    }
}

/// An output file, checked but not yet written.
#[derive(Debug, Clone)]
pub struct OutFile {
    path: PathBuf,
    dir: PathBuf,
    shown: String,
}

impl OutFile {
    /// Checks, before the run, that `path` can be written as the value of
    /// `flag`: not a directory, in a directory that exists and where a new
    /// file can be created (a temporary one is made and removed at once).
    ///
    /// # Errors
    /// One line naming the flag, the path, the errno and a hint.
    pub fn check(flag: &str, path: &Path) -> anyhow::Result<OutFile> {
        let shown = path.display().to_string();
        if path.is_dir() || shown.ends_with('/') {
            bail!(
                "{flag} {shown}: EISDIR: a directory, not a file; hint: \
                 name a file in it, such as {}",
                path.join("out.svg").display()
            );
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        tempfile::NamedTempFile::new_in(&dir).map_err(|e| {
            anyhow!(
                "{flag} {shown}: cannot create a file in {}: {}; hint: \
                 choose a directory you can write to",
                dir.display(),
                errno_of(&e)
            )
        })?;
        Ok(OutFile {
            path: path.to_owned(),
            dir,
            shown,
        })
    }

    /// The path as the user gave it, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether two output files would be the same file.
    pub fn same_as(&self, other: &OutFile) -> bool {
        let full = |f: &OutFile| {
            let name = f.path.file_name().map(|n| n.to_owned());
            (std::fs::canonicalize(&f.dir).ok(), name)
        };
        full(self) == full(other)
    }

    /// Writes `text` whole: a new temporary file in the same directory
    /// (mode 0644 less the umask, as `File::create` gives), then
    /// `rename(2)` over the path.
    ///
    /// # Errors
    /// The failed step, the path and the errno.
    pub fn write(&self, text: &str) -> anyhow::Result<()> {
        let shown = &self.shown;
        let mut tmp = tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o644))
            .tempfile_in(&self.dir)
            .op(format_args!("create a file beside {shown}"))?;
        tmp.write_all(text.as_bytes())
            .op(format_args!("write {shown}"))?;
        tmp.persist(&self.path)
            .map_err(|e| e.error)
            .op(format_args!("rename into {shown}"))?;
        Ok(())
    }
}

//! A file the user asked for (`--plot FILE.svg`), checked before any work
//! and written whole at the end: into a new temporary file beside it, then
//! renamed over it. A run that fails half-way leaves the old file as it
//! was; a symbolic link planted at the path is replaced, not followed; and
//! a reader never sees half a file.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::lab::error::{Op, SocketError};

/// The error again with its errno number, which tempfile's wrapping (it
/// adds the path) loses: found from its kind.
fn with_errno(e: std::io::Error) -> std::io::Error {
    use nix::libc;
    use std::io::ErrorKind::*;
    let n = match e.kind() {
        _ if e.raw_os_error().is_some() => return e,
        NotFound => libc::ENOENT,
        PermissionDenied => libc::EACCES,
        ReadOnlyFilesystem => libc::EROFS,
        NotADirectory => libc::ENOTDIR,
        _ => return e,
    };
    std::io::Error::from_raw_os_error(n)
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
            let name = path.join("out.svg");
            return Err(SocketError {
                op: format!("{flag} {shown}"),
                source: std::io::Error::from_raw_os_error(nix::libc::EISDIR),
                hint: Some(format!(
                    "name a file in it, such as {}",
                    name.display()
                )),
            }
            .into());
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        tempfile::NamedTempFile::new_in(&dir)
            .map_err(with_errno)
            .op(format_args!(
                "{flag} {shown}: create a file in {}",
                dir.display()
            ))
            .map_err(|e| e.hint("choose a directory you can write to"))?;
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

    /// Starts writing the file as the run goes, without holding it in
    /// memory: an unnamed file in the path's directory (`O_TMPFILE`, mode
    /// 0644 less the umask), given its name by [`Partial::finish`]. A run
    /// that ends without it, even killed (Ctrl-C), leaves the old file as
    /// it was and no other. Where the file system has no unnamed files, a
    /// temporary file beside the path, removed unless finished.
    ///
    /// # Errors
    /// The file could not be created: the path and the errno.
    pub fn begin(&self) -> anyhow::Result<Partial> {
        let shown = &self.shown;
        let unnamed = unnamed_in(&self.dir);
        let (file, kept) = match unnamed {
            Ok(file) => (file.try_clone(), Kept::Unnamed(file)),
            Err(_) => {
                let (file, tmp) = tempfile::Builder::new()
                    .permissions(std::fs::Permissions::from_mode(0o644))
                    .tempfile_in(&self.dir)
                    .op(format_args!("create a file beside {shown}"))?
                    .into_parts();
                (file.try_clone(), Kept::Named(tmp))
            }
        };
        let file = file.op(format_args!("dup the file for {shown}"))?;
        Ok(Partial {
            file: Some(file),
            kept,
            out: self.clone(),
        })
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

/// An output file being written as the run goes ([`OutFile::begin`]).
#[derive(Debug)]
pub struct Partial {
    file: Option<std::fs::File>,
    kept: Kept,
    out: OutFile,
}

/// How a [`Partial`] keeps its file until it is finished.
#[derive(Debug)]
enum Kept {
    /// Unnamed (`O_TMPFILE`): nothing to remove if the run dies.
    Unnamed(std::fs::File),
    /// A temporary file beside the path, removed when dropped.
    Named(tempfile::TempPath),
}

impl Partial {
    /// The open file, to write to; the first call takes it.
    ///
    /// # Panics
    /// If called twice.
    pub fn take_file(&mut self) -> std::fs::File {
        self.file.take().expect("the file is taken once")
    }

    /// The path as the user gave it, for messages.
    pub fn shown(&self) -> &str {
        &self.out.shown
    }

    /// Gives the file written its name: an unnamed file is linked into
    /// the directory (`linkat(2)` through `/proc/self/fd`) under a name of
    /// its own, then renamed over the path (`rename(2)`); a temporary file
    /// is renamed.
    ///
    /// # Errors
    /// The link or the rename failed: the path and the errno.
    pub fn finish(self) -> anyhow::Result<()> {
        use std::os::fd::AsRawFd;
        let shown = self.out.shown.clone();
        let tmp = match self.kept {
            Kept::Named(tmp) => tmp,
            Kept::Unnamed(file) => {
                let name = tempfile::Builder::new()
                    .tempfile_in(&self.out.dir)
                    .op(format_args!("create a file beside {shown}"))?
                    .into_temp_path();
                // linkat(2) cannot replace: the name is freed first.
                std::fs::remove_file(&name).op("remove a temporary name")?;
                let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
                let cwd = nix::fcntl::AT_FDCWD;
                let follow = nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW;
                nix::unistd::linkat(cwd, fd.as_str(), cwd, &*name, follow)
                    .map_err(std::io::Error::from)
                    .op(format_args!("link the file for {shown}"))?;
                name
            }
        };
        tmp.persist(&self.out.path)
            .map_err(|e| e.error)
            .op(format_args!("rename into {shown}"))?;
        Ok(())
    }
}

/// A file in `dir` with no name yet (Linux's `O_TMPFILE`, mode 0644).
#[cfg(target_os = "linux")]
fn unnamed_in(dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_TMPFILE)
        .open(dir)
}

/// Elsewhere there are no unnamed files: the caller names one.
#[cfg(not(target_os = "linux"))]
fn unnamed_in(_dir: &std::path::Path) -> std::io::Result<std::fs::File> {
    Err(std::io::ErrorKind::Unsupported.into())
}

//! `--output FILE`: the answer written beside FILE, flushed to disk, then renamed over it,
//! so that a reader (node_exporter's textfile collector, every few seconds) sees the old
//! file or the new one and never half of one.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The answer on its way to FILE. Dropped without `commit` (an error ended the run), the
/// temporary file is removed and FILE is left as it was.
pub(crate) struct AtomicFile {
    path: PathBuf,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Where the temporary file goes: FILE's directory, so the rename stays on one file
    /// system; a dot file ending in `.tmp`, which the textfile collector (it reads `*.prom`)
    /// and most globs pass over.
    fn temp_path(path: &Path) -> Option<PathBuf> {
        let name = path.file_name()?.to_string_lossy();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Some(dir.join(format!(".{name}.portwho-{}.tmp", std::process::id())))
    }

    fn error(&self, source: io::Error) -> Error {
        Error::OutputFile {
            path: self.path.clone(),
            source,
        }
    }
}

// The one place portwho writes a file (clippy.toml forbids it everywhere else): creating,
// renaming and, on failure, removing its own temporary file beside the `--output` FILE the
// user named.
#[allow(clippy::disallowed_methods)]
impl AtomicFile {
    /// Open the temporary file. A missing directory or no permission fails here, before
    /// anything is read.
    pub(crate) fn create(path: &Path) -> Result<AtomicFile, Error> {
        let not_a_file = || Error::OutputFile {
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        };
        // `DIR/` and an existing directory name no file to replace (and `Path` would read
        // `DIR/` as DIR).
        if path.as_os_str().as_encoded_bytes().ends_with(b"/") || path.is_dir() {
            return Err(Error::OutputFile {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
            });
        }
        let temp = Self::temp_path(path).ok_or_else(not_a_file)?;
        let open = || crate::backend::create_new(&temp);
        // Left behind by a run with this pid that was killed: it is ours to replace.
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&temp);
                open()
            }
            opened => opened,
        };
        let file = file.map_err(|source| Error::OutputFile {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp,
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
        })
    }

    /// Flush, sync to disk, rename over FILE, and sync the directory so the rename lasts.
    pub(crate) fn commit(mut self) -> Result<(), Error> {
        let Some(writer) = self.file.take() else {
            return Ok(());
        };
        let synced = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .and_then(|file| file.sync_all());
        if let Err(e) = synced {
            return Err(self.error(e));
        }
        if let Err(e) = std::fs::rename(&self.temp, &self.path) {
            return Err(self.error(e));
        }
        // The rename is done; syncing the directory only makes it survive a crash, and a
        // directory that cannot be opened for reading does not undo it.
        if let Some(dir) = self.temp.parent()
            && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
        self.temp = PathBuf::new();
        Ok(())
    }

    /// Remove the temporary file, if it is still there.
    fn discard(&mut self) {
        self.file = None;
        if !self.temp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        self.discard();
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buf),
            None => Err(io::Error::other("already committed")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.write_all(buf),
            None => Err(io::Error::other("already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

//! The agent's ends of containers' stdin FIFOs (containers with `stdin: true`), shared by the
//! PodWorkers that start containers and the kubelet service that attaches to them. A held end
//! is a writer kept open so the container's reads wait (instead of meeting end-of-file) until
//! someone attaches; with `stdinOnce` the first attach takes it, so the container reads
//! end-of-file when that attach ends, as upstream's runtimes close stdin then.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Held ends, by the container's log directory (which both sides can name).
#[derive(Debug, Clone, Default)]
pub struct StdinHolders(Arc<Mutex<HashMap<PathBuf, Held>>>);

#[derive(Debug)]
struct Held {
    file: File,
    once: bool,
}

impl StdinHolders {
    /// Hold `file` (the container's stdin FIFO, open for writing) for the container `key`.
    pub fn hold(&self, key: PathBuf, file: File, once: bool) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key, Held { file, once });
        }
    }

    /// The container ended: let its stdin go.
    pub fn release(&self, key: &Path) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(key);
        }
    }

    /// A writer into the container's stdin for one attach: for `stdinOnce` the held end itself
    /// (taken), else a duplicate. `None`: the container takes no stdin, or its one attach has
    /// had it.
    pub fn writer(&self, key: &Path) -> Option<File> {
        let mut map = self.0.lock().ok()?;
        if map.get(key)?.once {
            return map.remove(key).map(|h| h.file);
        }
        map.get(key)?.file.try_clone().ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn fifo(dir: &Path) -> (File, File) {
        let path = dir.join("stdin.fifo");
        let held = crate::pods::logpump::open_fifo(&path).unwrap();
        let container = std::fs::OpenOptions::new().read(true).open(&path).unwrap();
        (held, container)
    }

    #[test]
    fn stdin_once_is_taken_by_the_first_attach_and_then_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (held, mut container) = fifo(dir.path());
        let holders = StdinHolders::default();
        holders.hold(dir.path().to_owned(), held, true);
        let mut w = holders.writer(dir.path()).unwrap();
        assert!(holders.writer(dir.path()).is_none(), "only the first attach writes");
        w.write_all(b"hello\n").unwrap();
        drop(w);
        let mut got = String::new();
        container.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello\n", "then end-of-file");
    }

    #[test]
    fn other_containers_keep_their_stdin_across_attaches() {
        let dir = tempfile::tempdir().unwrap();
        let (held, mut container) = fifo(dir.path());
        let holders = StdinHolders::default();
        holders.hold(dir.path().to_owned(), held, false);
        for word in [b"one\n", b"two\n"] {
            let mut w = holders.writer(dir.path()).unwrap();
            w.write_all(word).unwrap();
        }
        let mut buf = [0u8; 8];
        let n = container.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one\ntwo\n");
        holders.release(dir.path());
        assert!(holders.writer(dir.path()).is_none());
    }
}

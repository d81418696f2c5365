//! Container logs as the kubelet keeps them: files in the CRI log format
//! (`<RFC3339Nano> <stdout|stderr> <F|P> <content>`, one line each) under
//! `<logs>/<namespace>_<pod>_<uid>/<container>/<restart>.log`, rotated by size, and read back
//! the way `kubectl logs` asks (tail, since, timestamps, byte limit).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::AgentError;

/// Rotate a log file at this size (the kubelet's `containerLogMaxSize`, 10 Mi).
pub const MAX_SIZE: u64 = 10 * 1024 * 1024;
/// Files kept per container start, the current one included (`containerLogMaxFiles`).
pub const MAX_FILES: usize = 5;
/// A line longer than this is split into partial (`P`) lines, as containerd does.
pub const MAX_LINE: usize = 16 * 1024;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io { path: path.to_owned(), source }
}

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A container's log directory.
pub fn container_dir(
    logs: &Path,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
) -> PathBuf {
    logs.join(format!("{namespace}_{pod}_{uid}")).join(container)
}

/// A pod's log directory (removed with the pod).
pub fn pod_dir(logs: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    logs.join(format!("{namespace}_{pod}_{uid}"))
}

/// The log file of the container's start number `restart`.
pub fn file(dir: &Path, restart: u32) -> PathBuf {
    dir.join(format!("{restart}.log"))
}

/// Marks that start's output as complete (the container ended), so followers stop.
pub fn done_marker(dir: &Path, restart: u32) -> PathBuf {
    dir.join(format!(".{restart}.done"))
}

/// The starts that have a log file, oldest first.
pub fn starts(dir: &Path) -> Vec<u32> {
    let mut found: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .collect();
    found.sort_unstable();
    found
}

/// RFC 3339 with nanoseconds always written out, as the kubelet's `RFC3339NanoFixed`.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}

/// One CRI log line for `content` (without its newline); `partial` when the line goes on.
pub fn encode(t: OffsetDateTime, stream: Stream, partial: bool, content: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(content.len() + 40);
    line.extend_from_slice(timestamp(t).as_bytes());
    line.push(b' ');
    line.extend_from_slice(stream.as_str().as_bytes());
    line.extend_from_slice(if partial { b" P " } else { b" F " });
    line.extend_from_slice(content);
    line.push(b'\n');
    line
}

/// A parsed CRI log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub time: &'a str,
    pub stream: Stream,
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one line (without its newline); `None` when it is not in the CRI format.
pub fn parse(line: &[u8]) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(Entry { time, stream, partial, content: parts.next().unwrap_or_default() })
}

/// Parses the kubelet's timestamps (RFC 3339, any fraction).
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Splits a stream's output into CRI lines: whole lines as `F`, over-long ones in `P` pieces.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Feeds output; returns the lines complete so far as `(partial, content)`.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                out.push((false, std::mem::take(&mut self.pending)));
            } else {
                self.pending.push(b);
                if self.pending.len() >= MAX_LINE {
                    out.push((true, std::mem::take(&mut self.pending)));
                }
            }
        }
        out
    }

    /// The output ended: what is left is a last line.
    pub fn finish(&mut self) -> Option<(bool, Vec<u8>)> {
        (!self.pending.is_empty()).then(|| (false, std::mem::take(&mut self.pending)))
    }
}

/// Appends CRI lines to a start's log file, rotating it by size.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: usize,
}

impl Writer {
    /// Opens (appending) the log of start `restart` in `dir`, creating the directory.
    pub fn open(dir: &Path, restart: u32) -> Result<Writer, AgentError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = file(dir, restart);
        let file =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let size = file.metadata().map_err(io(&path))?.len();
        Ok(Writer { path, file, size, max_size: MAX_SIZE, max_files: MAX_FILES })
    }

    /// Rotate at `max_size`, keeping `max_files` (tests).
    pub fn with_limits(mut self, max_size: u64, max_files: usize) -> Self {
        self.max_size = max_size;
        self.max_files = max_files.max(1);
        self
    }

    pub fn write(
        &mut self,
        stream: Stream,
        partial: bool,
        content: &[u8],
    ) -> Result<(), AgentError> {
        let line = encode(OffsetDateTime::now_utc(), stream, partial, content);
        if self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line).map_err(io(&self.path))?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// `<n>.log` becomes `<n>.log.<UTC time>`; the oldest rotated files beyond the limit go.
    fn rotate(&mut self) -> Result<(), AgentError> {
        let now = OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}.{:09}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.nanosecond()
        );
        let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("0.log").to_owned();
        let rotated = self.path.with_file_name(format!("{name}.{stamp}"));
        std::fs::rename(&self.path, &rotated).map_err(io(&self.path))?;
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_owned();
        let prefix = format!("{name}.");
        let mut old: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)))
            .map(|e| e.path())
            .collect();
        old.sort();
        let excess = old.len().saturating_sub(self.max_files - 1);
        for path in old.iter().take(excess) {
            let _ = std::fs::remove_file(path);
        }
        self.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        self.size = 0;
        Ok(())
    }
}

/// What `kubectl logs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub since: Option<OffsetDateTime>,
    pub limit_bytes: Option<u64>,
}

/// Reads a log file as `kubectl logs` shows it. Returns the text and the offset read up to
/// (where following goes on from), stopping early at the byte limit.
pub fn read(path: &Path, options: &ReadOptions) -> Result<(Vec<u8>, u64), AgentError> {
    let file = File::open(path).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut offset = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break; // the end, or a line still being written: read it when it is whole
        }
        offset += n as u64;
        lines.push(line.clone());
    }
    let start = match options.tail_lines {
        Some(n) => whole_lines_start(&lines, n),
        None => 0,
    };
    let (mut out, mut continuing) = (Vec::new(), false);
    for line in &lines[start..] {
        render(line, options, &mut continuing, &mut out);
    }
    if let Some(limit) = options.limit_bytes {
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok((out, offset))
}

/// The whole lines appended since `offset` (a line still being written is left for later),
/// and the offset after them.
fn lines_from(path: &Path, offset: u64) -> Result<(Vec<Vec<u8>>, u64), AgentError> {
    let mut file = File::open(path).map_err(io(path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io(path))?;
    let mut reader = BufReader::new(file);
    let (mut lines, mut offset) = (Vec::new(), offset);
    loop {
        let mut line = Vec::new();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        offset += n as u64;
        lines.push(line);
    }
    Ok((lines, offset))
}

/// Reads what was appended since `offset`: the rendered text and the new offset.
pub fn read_from(
    path: &Path,
    offset: u64,
    options: &ReadOptions,
) -> Result<(Vec<u8>, u64), AgentError> {
    let (lines, offset) = lines_from(path, offset)?;
    let (mut out, mut continuing) = (Vec::new(), false);
    for line in &lines {
        render(line, options, &mut continuing, &mut out);
    }
    Ok((out, offset))
}

/// Output of one stream.
pub type Piece = (Stream, Vec<u8>);

/// The output appended since `offset`, as `(stream, bytes)` pieces in order (a whole line
/// ends with its newline), and the new offset: what `kubectl attach` shows.
pub fn output_from(path: &Path, offset: u64) -> Result<(Vec<Piece>, u64), AgentError> {
    let (lines, offset) = lines_from(path, offset)?;
    let pieces = lines
        .iter()
        .filter_map(|line| parse(&line[..line.len() - 1]))
        .map(|entry| {
            let mut bytes = entry.content.to_vec();
            if !entry.partial {
                bytes.push(b'\n');
            }
            (entry.stream, bytes)
        })
        .collect();
    Ok((pieces, offset))
}

/// The index of the first line of the last `n` whole lines (a partial line belongs to the
/// full line that ends it).
fn whole_lines_start(lines: &[Vec<u8>], n: u64) -> usize {
    let mut count = 0u64;
    let mut start = lines.len();
    for (i, line) in lines.iter().enumerate().rev() {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let partial = parse(text).is_some_and(|e| e.partial);
        if !partial {
            if count == n {
                break;
            }
            count += 1;
        }
        start = i;
    }
    start
}

/// Appends one CRI line as the user sees it: a partial line without its newline, and a
/// timestamp only where a line begins (`continuing`: the previous piece was partial).
fn render(line: &[u8], options: &ReadOptions, continuing: &mut bool, out: &mut Vec<u8>) {
    let text = line.strip_suffix(b"\n").unwrap_or(line);
    let Some(entry) = parse(text) else { return };
    if let Some(since) = options.since
        && parse_time(entry.time).is_some_and(|t| t < since)
    {
        return;
    }
    if options.timestamps && !*continuing {
        out.extend_from_slice(entry.time.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(entry.content);
    if !entry.partial {
        out.push(b'\n');
    }
    *continuing = entry.partial;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_encode_and_parse_in_the_cri_format() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_000_000_500).unwrap();
        let line = encode(t, Stream::Stderr, false, b"boom");
        assert_eq!(line, b"2023-11-14T22:13:20.000000500Z stderr F boom\n");
        let entry = parse(&line[..line.len() - 1]).unwrap();
        assert_eq!(entry.stream, Stream::Stderr);
        assert_eq!(entry.content, b"boom");
        assert!(!entry.partial);
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b"2023-11-14T22:13:20Z stdout F ").unwrap().content, b"");
    }

    #[test]
    fn output_splits_into_whole_and_partial_lines() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"a\nb"), [(false, b"a".to_vec())]);
        assert_eq!(lines.push(b"c\n"), [(false, b"bc".to_vec())]);
        let long = vec![b'x'; MAX_LINE + 1];
        let out = lines.push(&long);
        assert_eq!(out.len(), 1);
        assert!(out[0].0, "partial");
        assert_eq!(lines.finish(), Some((false, b"x".to_vec())));
        assert_eq!(lines.finish(), None);
    }

    #[test]
    fn reading_honours_tail_timestamps_since_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), 0).unwrap();
        for i in 0..5 {
            w.write(Stream::Stdout, false, format!("line {i}").as_bytes()).unwrap();
        }
        w.write(Stream::Stdout, true, b"par").unwrap();
        w.write(Stream::Stdout, false, b"tial").unwrap();
        let path = file(dir.path(), 0);
        let all = |o: ReadOptions| String::from_utf8(read(&path, &o).unwrap().0).unwrap();
        assert_eq!(
            all(ReadOptions::default()),
            "line 0\nline 1\nline 2\nline 3\nline 4\npartial\n"
        );
        let tail = ReadOptions { tail_lines: Some(2), ..ReadOptions::default() };
        assert_eq!(all(tail), "line 4\npartial\n");
        let none = ReadOptions { tail_lines: Some(0), ..ReadOptions::default() };
        assert_eq!(all(none), "");
        let stamped =
            all(ReadOptions { timestamps: true, tail_lines: Some(1), ..Default::default() });
        assert!(stamped.ends_with("Z partial\n") && stamped.len() > 31, "{stamped}");
        let limited = all(ReadOptions { limit_bytes: Some(9), ..Default::default() });
        assert_eq!(limited, "line 0\nli");
        let future = OffsetDateTime::now_utc() + time::Duration::hours(1);
        assert_eq!(all(ReadOptions { since: Some(future), ..Default::default() }), "");

        // Following: only what was appended after the offset.
        let (_, offset) = read(&path, &ReadOptions::default()).unwrap();
        w.write(Stream::Stderr, false, b"more").unwrap();
        let (more, end) = read_from(&path, offset, &ReadOptions::default()).unwrap();
        assert_eq!(more, b"more\n");
        assert!(end > offset);
        let (pieces, again) = output_from(&path, offset).unwrap();
        assert_eq!(pieces, [(Stream::Stderr, b"more\n".to_vec())]);
        assert_eq!(again, end);
    }

    #[test]
    fn files_rotate_by_size_keeping_a_bounded_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), 2).unwrap().with_limits(200, 3);
        for i in 0..40 {
            w.write(Stream::Stdout, false, format!("line number {i:04}").as_bytes()).unwrap();
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"2.log".to_owned()));
        assert!(std::fs::metadata(file(dir.path(), 2)).unwrap().len() <= 200);
        let last =
            String::from_utf8(read(&file(dir.path(), 2), &ReadOptions::default()).unwrap().0)
                .unwrap();
        assert!(last.ends_with("line number 0039\n"), "{last}");
        assert_eq!(starts(dir.path()), [2]);
    }
}

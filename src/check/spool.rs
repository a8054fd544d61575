//! Workload records between reading and evaluating. Evaluation waits for the end of the input
//! (a policy or ConfigMap may come after the workloads it concerns), and the input is read only
//! once, so each workload is kept as one JSON line of what evaluation reads (a few hundred bytes
//! to a few KB): in memory up to [`MEMORY`], then in a private temporary file removed when done.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Records kept in memory before they go to a file.
const MEMORY: usize = 8 << 20;

#[derive(Default)]
pub struct Spool {
    mem: Vec<u8>,
    file: Option<(PathBuf, File)>,
    /// Records pushed.
    pub count: usize,
}

impl Spool {
    /// Adds one record (a JSON line ending in `\n`).
    pub fn push(&mut self, line: &[u8]) -> io::Result<()> {
        self.count += 1;
        self.mem.extend_from_slice(line);
        if self.mem.len() >= MEMORY {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            let path = std::env::temp_dir().join(format!("natsguard-check-{}-{nanos}.records", std::process::id()));
            let mut opts = std::fs::OpenOptions::new();
            opts.read(true).write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let f = opts.open(&path)?;
            self.file = Some((path, f));
        }
        if let Some((_, f)) = &mut self.file {
            f.write_all(&self.mem)?;
        }
        self.mem.clear();
        Ok(())
    }

    /// Hands the records over in order, in chunks of whole lines of about `chunk` bytes.
    pub fn drain(&mut self, chunk: usize, emit: &mut dyn FnMut(Vec<u8>)) -> io::Result<()> {
        if self.file.is_some() {
            self.spill()?;
        }
        match &mut self.file {
            None => {
                let all = std::mem::take(&mut self.mem);
                let mut start = 0;
                while start < all.len() {
                    let from = (start + chunk).min(all.len() - 1);
                    let end = memchr::memchr(b'\n', &all[from..]).map_or(all.len(), |i| from + i + 1);
                    emit(all[start..end].to_vec());
                    start = end;
                }
            }
            Some((_, f)) => {
                f.seek(SeekFrom::Start(0))?;
                let mut r = BufReader::with_capacity(256 * 1024, &*f);
                let mut buf = Vec::with_capacity(chunk + 4096);
                loop {
                    let n = r.read_until(b'\n', &mut buf)?;
                    if n == 0 || buf.len() >= chunk {
                        if !buf.is_empty() {
                            emit(std::mem::replace(&mut buf, Vec::with_capacity(chunk + 4096)));
                        }
                        if n == 0 {
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some((path, _)) = &self.file {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_back_every_record_in_order_from_memory_and_from_a_file() {
        for n in [0usize, 3, 200_000] {
            let mut s = Spool::default();
            for i in 0..n {
                s.push(format!("{{\"record\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 100)).as_bytes()).unwrap();
            }
            assert_eq!(s.file.is_some(), n == 200_000);
            let path = s.file.as_ref().map(|(p, _)| p.clone());
            let mut lines = Vec::new();
            s.drain(64 * 1024, &mut |c| {
                assert!(c.ends_with(b"\n"));
                lines.extend(c.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| l.to_vec()));
            })
            .unwrap();
            assert_eq!(lines.len(), n);
            for (i, l) in lines.iter().enumerate() {
                assert!(l.starts_with(format!("{{\"record\":{i},").as_bytes()));
            }
            drop(s);
            if let Some(p) = path {
                assert!(!p.exists(), "the file is removed");
            }
        }
    }
}

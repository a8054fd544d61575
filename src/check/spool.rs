//! Workload records between reading and evaluating. Evaluation waits for the end of the input
//! (a policy or ConfigMap may come after the workloads it concerns), and the input is read only
//! once, so each workload is kept as a record of what evaluation reads ([`super::codec`], about
//! a third of the YAML): in memory up to [`MEMORY`], then in a private temporary file removed
//! when done.

use super::codec;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
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
    /// Adds one framed record.
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

    /// Hands the records over in order, in chunks of whole frames of about `chunk` bytes.
    pub fn drain(&mut self, chunk: usize, emit: &mut dyn FnMut(Vec<u8>)) -> io::Result<()> {
        if self.file.is_some() {
            self.spill()?;
        }
        match &mut self.file {
            None => {
                let all = std::mem::take(&mut self.mem);
                let (mut start, mut end) = (0, 0);
                while let Some(n) = codec::frame_len(&all[end..]) {
                    end = (end + n).min(all.len());
                    if end - start >= chunk {
                        emit(all[start..end].to_vec());
                        start = end;
                    }
                }
                if start < all.len() {
                    emit(all[start..].to_vec());
                }
            }
            Some((_, f)) => {
                f.seek(SeekFrom::Start(0))?;
                let mut r = BufReader::with_capacity(256 * 1024, &*f);
                let mut buf = Vec::with_capacity(chunk + 4096);
                let mut len = [0u8; 4];
                loop {
                    match r.read_exact(&mut len) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                        Err(e) => return Err(e),
                    }
                    let n = u32::from_le_bytes(len) as usize;
                    buf.extend_from_slice(&len);
                    let at = buf.len();
                    buf.resize(at + n, 0);
                    r.read_exact(&mut buf[at..])?;
                    if buf.len() >= chunk {
                        emit(std::mem::replace(&mut buf, Vec::with_capacity(chunk + 4096)));
                    }
                }
                if !buf.is_empty() {
                    emit(buf);
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
        let frame = |i: usize| {
            let body = format!("record {i} {}", "x".repeat(i % 100));
            let mut v = (body.len() as u32).to_le_bytes().to_vec();
            v.extend_from_slice(body.as_bytes());
            v
        };
        for n in [0usize, 3, 200_000] {
            let mut s = Spool::default();
            for i in 0..n {
                s.push(&frame(i)).unwrap();
            }
            assert_eq!(s.file.is_some(), n == 200_000);
            let path = s.file.as_ref().map(|(p, _)| p.clone());
            let mut got = Vec::new();
            s.drain(64 * 1024, &mut |c| {
                got.extend(codec::frames(&c).map(|f| String::from_utf8(f.unwrap().to_vec()).unwrap()));
            })
            .unwrap();
            assert_eq!(got.len(), n);
            for (i, g) in got.iter().enumerate() {
                assert!(g.starts_with(&format!("record {i} ")), "{g}");
            }
            drop(s);
            if let Some(p) = path {
                assert!(!p.exists(), "the file is removed");
            }
        }
    }
}

//! A flow log followed as it grows, as `tail -F` follows it: read from
//! where the last poll stopped, a line cut short at the end left for the
//! next poll, a truncated file read again from the start, and a rotated one
//! (the path now names another file) read to its end before the new file is
//! read from its start. A line over the flow readers' length cap is never
//! held: it is skipped as it streams by (across polls while it is still
//! being written) and counted as unreadable once it ends.
//!
//! Where the records go is an [`Intake`]: the controller's memory
//! ([`crate::feed::Feed`]) or a flow store ([`crate::stored`]). A
//! [`Position`] (offset and file identity) lets a follower that stopped
//! resume where it was, and start a file that was rotated meanwhile at 0.

use palisade_targets::flows::{read_line_capped, Capped, FlowFormat, FlowRecord, Line, MAX_LINE_BYTES};
use std::{
    fs::File,
    io::{BufReader, Seek, SeekFrom},
    path::{Path, PathBuf},
};

/// Where followed records go
pub trait Intake {
    /// a flow
    fn flow(&mut self, record: FlowRecord);
    /// records the layer reported lost, or an outage of the stream (one)
    fn lost(&mut self, records: u64);
    /// a line or message that could not be read
    fn unreadable(&mut self);
}

/// Which file a path named: a rotated log is another file under the same
/// name (device and inode where the platform has them)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    device: u64,
    inode: u64,
}

impl Identity {
    #[cfg(unix)]
    fn of(metadata: &std::fs::Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        Some(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    // Elsewhere only truncation is seen: a rotated file is taken for the
    // same one while it is longer than what was read of the old one.
    #[cfg(not(unix))]
    fn of(_: &std::fs::Metadata) -> Option<Self> {
        None
    }
}

/// How far a followed file was read: saved with each checkpoint so that a
/// restart resumes there, or at 0 if the path names another file now
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// the file that was read
    pub identity: Option<Identity>,
    /// bytes of it taken (whole lines)
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.identity {
            Some(i) => write!(f, "{}.{}@{}", i.device, i.inode, self.offset),
            None => write!(f, "@{}", self.offset),
        }
    }
}

impl std::str::FromStr for Position {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let wrong = || format!("`{text}` is not a file position (DEVICE.INODE@OFFSET)");
        let (file, offset) = text.split_once('@').ok_or_else(wrong)?;
        let offset = offset.parse().map_err(|_| wrong())?;
        let identity = match file.split_once('.') {
            None if file.is_empty() => None,
            None => return Err(wrong()),
            Some((device, inode)) => Some(Identity {
                device: device.parse().map_err(|_| wrong())?,
                inode: inode.parse().map_err(|_| wrong())?,
            }),
        };
        Ok(Self { identity, offset })
    }
}

/// A followed flow log
pub struct Tail {
    path: PathBuf,
    /// the file being read: kept open so that a rotated file is read to
    /// its end under its new name
    file: Option<File>,
    at: Position,
    /// where a resumed follower stopped, until the file is first opened
    resume: Option<Position>,
    format: Option<&'static dyn FlowFormat>,
    /// `offset` is inside a line over the cap whose end has not been
    /// written yet: the rest of it is skipped, not read as a record
    skipping: bool,
}

impl Tail {
    /// Follow `path` from its start (the format is recognised from the
    /// first record)
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            at: Position {
                identity: None,
                offset: 0,
            },
            resume: None,
            format: None,
            skipping: false,
        }
    }

    /// Follow `path` from `position`, where an earlier follower stopped
    pub fn resume(path: PathBuf, position: Position) -> Self {
        Self {
            resume: Some(position),
            ..Self::new(path)
        }
    }

    /// The file followed
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How far it was read
    pub fn position(&self) -> Position {
        self.at
    }

    /// The format its records were recognised as, once one was
    pub fn format(&self) -> Option<&'static str> {
        self.format.map(|f| f.id())
    }

    /// Take what was appended since the last poll, and the rest of a file
    /// rotated away meanwhile; how many flows
    pub fn poll(&mut self, intake: &mut dyn Intake) -> std::io::Result<u64> {
        let mut taken = self.drain(intake)?;
        if self.replaced() {
            if self.skipping {
                // a line over the cap the old file never finished
                intake.unreadable();
            }
            self.file = None;
            self.at = Position {
                identity: None,
                offset: 0,
            };
            self.skipping = false;
            taken += self.drain(intake)?;
        }
        Ok(taken)
    }

    /// Whether the path names another file than the one open (it was
    /// rotated); a path missing for now is a rotation not finished yet
    fn replaced(&self) -> bool {
        let Ok(now) = std::fs::metadata(&self.path) else {
            return false;
        };
        self.file.is_some() && Identity::of(&now) != self.at.identity
    }

    /// Open the file (at the resumed position) unless it is open
    fn open(&mut self, intake: &mut dyn Intake) -> std::io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let file = File::open(&self.path)?;
        let metadata = file.metadata()?;
        let identity = Identity::of(&metadata);
        let offset = match self.resume.take() {
            None => 0,
            Some(saved) if saved.identity == identity && saved.offset <= metadata.len() => saved.offset,
            // Rotated or truncated while nobody followed it: what the old
            // file held past the saved offset was never read.
            Some(_) => {
                intake.lost(1);
                0
            }
        };
        self.at = Position { identity, offset };
        self.file = Some(file);
        Ok(())
    }

    /// Read the open file from where the last poll stopped to its end
    fn drain(&mut self, intake: &mut dyn Intake) -> std::io::Result<u64> {
        self.open(intake)?;
        let Some(mut file) = self.file.as_ref() else {
            return Ok(0);
        };
        if file.metadata()?.len() < self.at.offset {
            // truncated in place: start again
            self.at.offset = 0;
            self.skipping = false;
        }
        file.seek(SeekFrom::Start(self.at.offset))?;
        let mut reader = BufReader::new(file);
        let mut taken = 0;
        let mut line = Vec::new();
        loop {
            let length = match read_line_capped(&mut reader, &mut line, MAX_LINE_BYTES)? {
                Capped::End => break,
                // The writer has not finished this line: read it whole next time.
                Capped::Line if !line.ends_with(b"\n") => break,
                Capped::Line => line.len() as u64,
                // Over the cap and not ended: step past what was written, so
                // that no poll holds or reads it again, and skip the rest later.
                Capped::TooLong { length, ended: false } => {
                    self.at.offset += length;
                    self.skipping = true;
                    break;
                }
                Capped::TooLong { length, ended: true } => {
                    self.at.offset += length;
                    self.skipping = false;
                    intake.unreadable();
                    continue;
                }
            };
            self.at.offset += length;
            if std::mem::take(&mut self.skipping) {
                // the end of a line over the cap, begun in an earlier poll
                intake.unreadable();
                continue;
            }
            if take(&line, &mut self.format, intake) {
                taken += 1;
            }
        }
        Ok(taken)
    }
}

/// Read one whole line into `intake` (recognising the format from the first
/// record); whether it was a flow
fn take(line: &[u8], format: &mut Option<&'static dyn FlowFormat>, intake: &mut dyn Intake) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        intake.unreadable();
        return false;
    };
    let text = text.trim();
    if text.is_empty() {
        return false;
    }
    if format.is_none() {
        *format = palisade_targets::flows::formats()
            .into_iter()
            .find(|f| f.recognizes(text));
    }
    let Some(format) = *format else {
        intake.unreadable();
        return false;
    };
    match format.read(text) {
        Ok(Line::Flow(record)) => {
            intake.flow(*record);
            true
        }
        Ok(Line::Lost(n)) => {
            intake.lost(n);
            false
        }
        Ok(Line::Skipped(_)) => false,
        Err(_) => {
            intake.unreadable();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Identity, Position};

    #[test]
    fn positions_read_back_as_written_and_others_are_refused() {
        for position in [
            Position {
                identity: Some(Identity {
                    device: 64769,
                    inode: 1234,
                }),
                offset: 99,
            },
            Position {
                identity: None,
                offset: 0,
            },
        ] {
            assert_eq!(position.to_string().parse::<Position>(), Ok(position));
        }
        for wrong in ["", "12", "1.2", "1@x", "a.b@3", "1@3"] {
            assert!(wrong.parse::<Position>().is_err(), "{wrong}");
        }
    }
}

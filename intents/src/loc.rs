//! Source positions: every value a user wrote can be traced back to `file:line:column`.
//!
//! marked-yaml gives us line/column markers; a `Loc` adds the file and the byte
//! span so miette can underline the exact text.

use std::{fmt, sync::Arc};

/// One intents file as read from disk (or from git), shared by every `Loc` in it
#[derive(Debug)]
pub struct SourceFile {
    /// path relative to the repository root: what annotations and reports name
    pub path: String,
    /// the path from the working directory, where diagnostics point (an
    /// editor's quickfix list opens it); the same as `path` unless the file
    /// was read from a folder named on the command line
    pub shown: String,
    /// the full text
    pub text: Arc<str>,
    /// byte offset of the start of each line: positions are looked up for
    /// every node and every rendered annotation, so no lookup may scan the file
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A new source file
    pub fn new(path: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<Self> {
        let path = path.into();
        Self::shown_as(path.clone(), path, text)
    }

    /// A new source file whose diagnostics point at `shown`
    pub fn shown_as(path: String, shown: String, text: impl Into<Arc<str>>) -> Arc<Self> {
        let text: Arc<str> = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(Self {
            path,
            shown,
            text,
            line_starts,
        })
    }

    /// Byte offset of a 1-based line and 1-based column counted in characters
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return self.text.len();
        };
        let end = self.line_starts.get(line).copied().unwrap_or(self.text.len());
        let text = self.text.get(start..end).unwrap_or("");
        let within = text
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(text.len(), |(byte, _)| byte);
        start + within
    }

    /// 1-based line and column of a byte offset
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts.get(line.wrapping_sub(1)).copied().unwrap_or(0);
        let column = self.text.get(line_start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line.max(1), column)
    }
}

/// A span of text in one source file
#[derive(Clone)]
pub struct Loc {
    /// the file
    pub file: Arc<SourceFile>,
    /// byte offset of the first character
    pub offset: usize,
    /// length in bytes (at least 1 where the file is not empty)
    pub len: usize,
}

impl Loc {
    /// A span from a byte offset and length, clamped to the file
    pub fn new(file: Arc<SourceFile>, offset: usize, len: usize) -> Self {
        let offset = offset.min(file.text.len());
        let len = len.min(file.text.len() - offset);
        Self { file, offset, len }
    }

    /// A span covering the scalar that starts at `line:column` (1-based)
    pub fn at_scalar(file: Arc<SourceFile>, line: usize, column: usize) -> Self {
        let offset = file.offset_of(line, column);
        let len = scalar_len(file.text.get(offset..).unwrap_or(""));
        Self::new(file, offset, len)
    }

    /// A sub-span inside this one, `offset` bytes in; used by the terse parser
    pub fn sub(&self, offset: usize, len: usize) -> Self {
        Self::new(self.file.clone(), self.offset + offset, len)
    }

    /// 1-based line
    pub fn line(&self) -> usize {
        self.file.line_column(self.offset).0
    }

    /// 1-based column
    pub fn column(&self) -> usize {
        self.file.line_column(self.offset).1
    }

    /// The text this span covers
    pub fn text(&self) -> &str {
        self.file.text.get(self.offset..self.offset + self.len).unwrap_or("")
    }

    /// `file:line`, the form used in manifest annotations
    pub fn file_line(&self) -> String {
        format!("{}:{}", self.file.path, self.line())
    }
}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.file.line_column(self.offset);
        write!(f, "{}:{}:{}", self.file.shown, line, column)
    }
}

/// Length of the YAML scalar at the start of `rest`: a quoted string up to its
/// closing quote, otherwise up to the end of the line or a trailing comment.
fn scalar_len(rest: &str) -> usize {
    let line = rest.split('\n').next().unwrap_or("");
    let mut chars = line.char_indices();
    match chars.next() {
        Some((_, quote @ ('"' | '\''))) => {
            let mut escaped = false;
            for (i, c) in chars {
                if quote == '"' && c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == quote && !escaped {
                    return i + 1;
                }
                escaped = false;
            }
            line.len()
        }
        Some(_) => {
            let end = line.find(" #").unwrap_or(line.len());
            let trimmed = line.get(..end).unwrap_or(line).trim_end();
            // In flow style (`{ a: b, c: d }`) a scalar ends at `,` `}` or `]`.
            trimmed
                .find([',', '}', ']'])
                .map_or(trimmed.len(), |end| trimmed.get(..end).unwrap_or("").trim_end().len())
                .max(1)
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_through_line_and_column() {
        let file = SourceFile::new("a.yaml", "ab\ncdé f\n");
        assert_eq!(file.offset_of(2, 4), 7, "é is two bytes");
        assert_eq!(file.line_column(7), (2, 4));
        assert_eq!(file.offset_of(2, 5), 8);
    }

    #[test]
    fn scalar_length_stops_at_comments_quotes_and_flow_separators() {
        assert_eq!(scalar_len("frontend -> backend # c\n"), 19);
        assert_eq!(scalar_len("\"a -> b\" # x"), 8);
        assert_eq!(scalar_len("app, b: c }"), 3);
        assert_eq!(
            scalar_len("Shop }"),
            4,
            "the space before the brace is not part of the value"
        );
    }
}

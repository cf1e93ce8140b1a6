//! Source positions for YAML that is not intents (manifests a tool reads and
//! reports on, as `palisade lint` does): the same document splitting as the
//! intents loader, each document parsed once for its tree of spans, and a
//! JSON pointer (`/spec/ingress/0/from/1`) turned into `file:line:column`.

use crate::{load::split_documents, Loc, SourceFile};
use marked_yaml::{LoaderOptions, Node};
use std::sync::Arc;

/// One YAML document: its text (earlier lines blanked, so positions are the
/// file's) and its tree of spans, when it parses
pub struct PositionedDocument {
    /// the text, to parse with any YAML library
    pub text: String,
    /// parsed for positions when a position is first asked: most documents
    /// are read without a diagnostic, and this parse costs as much as the
    /// reading itself
    node: std::cell::OnceCell<Option<Node>>,
}

/// Every document of a file
pub fn documents(file: &Arc<SourceFile>) -> Vec<PositionedDocument> {
    split_documents(&file.text)
        .into_iter()
        .map(|d| PositionedDocument {
            text: d.text,
            node: std::cell::OnceCell::new(),
        })
        .collect()
}

impl PositionedDocument {
    fn node(&self) -> &Option<Node> {
        self.node.get_or_init(|| {
            let owned = self.text.clone();
            // marked-yaml may panic on input it did not expect; positions are a nicety here.
            std::panic::catch_unwind(move || marked_yaml::parse_yaml_with_options(0, owned, LoaderOptions::default()))
                .ok()
                .and_then(Result::ok)
        })
    }

    /// Where the value at `pointer` starts; the deepest existing ancestor when
    /// the path runs out, the document's start when nothing parsed
    pub fn locate(&self, file: &Arc<SourceFile>, pointer: &str) -> Loc {
        let first_line = self.text.lines().take_while(|l| l.trim().is_empty()).count() + 1;
        let fallback = Loc::at_scalar(file.clone(), first_line, 1);
        let Some(mut node) = self.node().as_ref() else {
            return fallback;
        };
        let mut at = start_of(file, node).unwrap_or(fallback);
        for segment in pointer.split('/').skip(1) {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            let next = match node {
                Node::Mapping(m) => m
                    .iter()
                    .find(|(k, _)| k.as_str() == segment)
                    .map(|(k, v)| (v, Some(k.span().start().copied()))),
                Node::Sequence(s) => segment.parse::<usize>().ok().and_then(|i| s.get(i)).map(|v| (v, None)),
                Node::Scalar(_) => None,
            };
            let Some((child, key_start)) = next else { break };
            node = child;
            // A mapping or sequence value starts where its key does, which reads best.
            let key_loc = key_start
                .flatten()
                .map(|m| Loc::at_scalar(file.clone(), m.line(), m.column()));
            at = match (node, key_loc) {
                (Node::Scalar(_), key_loc) | (_, key_loc @ None) => start_of(file, node).or(key_loc).unwrap_or(at),
                (_, Some(k)) => k,
            };
        }
        at
    }
}

fn start_of(file: &Arc<SourceFile>, node: &Node) -> Option<Loc> {
    node.span()
        .start()
        .map(|m| Loc::at_scalar(file.clone(), m.line(), m.column()))
}

//! Reference paths: `$`, `$.a.b` on the state's input, `$$.A.B` on the context object. The
//! definition uses nothing else, so nothing else is accepted.

use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// `$$`: the context object, not the input.
    pub context: bool,
    pub fields: Vec<String>,
}

impl Path {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (context, rest) = match text.strip_prefix("$$") {
            Some(rest) => (true, rest),
            None => match text.strip_prefix('$') {
                Some(rest) => (false, rest),
                None => return Err(format!("{text:?} is not a path")),
            },
        };
        if rest.is_empty() {
            return Ok(Self {
                context,
                fields: Vec::new(),
            });
        }
        let Some(rest) = rest.strip_prefix('.') else {
            return Err(format!("{text:?}: only $.field.field paths are supported"));
        };
        let fields: Vec<String> = rest.split('.').map(str::to_owned).collect();
        let plain = |f: &String| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !fields.iter().all(plain) {
            return Err(format!("{text:?}: only $.field.field paths are supported"));
        }
        Ok(Self { context, fields })
    }

    /// What the path selects, or `None` when a field on the way is missing.
    pub fn select<'v>(&self, input: &'v Value, context: &'v Value) -> Option<&'v Value> {
        let root = if self.context { context } else { input };
        self.fields
            .iter()
            .try_fold(root, |value, field| value.as_object()?.get(field))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.context { "$$" } else { "$" })?;
        for field in &self.fields {
            write!(f, ".{field}")?;
        }
        Ok(())
    }
}

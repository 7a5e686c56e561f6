//! Payload templates (`Parameters`, `ResultSelector`): JSON where a field whose name ends in
//! `.$` takes its value from a path or from `States.Format`.

use super::path::Path;
use super::{Refused, TaskError};
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path(Path),
    Format(String, Vec<Path>),
}

impl Template {
    pub fn load(raw: &Value) -> Result<Self, Refused> {
        Ok(match raw {
            Value::Object(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for (key, value) in fields {
                    match key.strip_suffix(".$") {
                        Some(name) => {
                            let text = value.as_str().ok_or_else(|| {
                                Refused(format!("{key}: a field ending in .$ needs a string"))
                            })?;
                            out.push((name.to_owned(), Self::dynamic(key, text)?));
                        }
                        None => out.push((key.clone(), Self::load(value)?)),
                    }
                }
                Self::Object(out)
            }
            Value::Array(items) => {
                Self::Array(items.iter().map(Self::load).collect::<Result<_, _>>()?)
            }
            other => Self::Literal(other.clone()),
        })
    }

    fn dynamic(key: &str, text: &str) -> Result<Self, Refused> {
        if let Some(args) = text
            .strip_prefix("States.Format(")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            return Self::format(key, args);
        }
        if text.starts_with("States.") {
            return Err(Refused(format!("{key}: intrinsic {text} is not supported")));
        }
        Path::parse(text)
            .map(Self::Path)
            .map_err(|e| Refused(format!("{key}: {e}")))
    }

    /// `'template with {}', $.path, ...`: a quoted string (`\'`, `\{`, `\}`, `\\` escaped) and
    /// one path per `{}`.
    fn format(key: &str, args: &str) -> Result<Self, Refused> {
        let bad = |why: &str| Refused(format!("{key}: States.Format({args}): {why}"));
        let rest = args
            .trim_start()
            .strip_prefix('\'')
            .ok_or_else(|| bad("needs a quoted template first"))?;
        let mut template = String::new();
        let mut chars = rest.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped @ ('\'' | '\\'))) => template.push(escaped),
                    Some((_, '{')) => template.push('\u{0}'),
                    Some((_, '}')) => template.push('\u{1}'),
                    _ => return Err(bad("unknown escape")),
                },
                '\'' => {
                    end = Some(i);
                    break;
                }
                c => template.push(c),
            }
        }
        let end = end.ok_or_else(|| bad("the template is not closed"))?;
        let paths = rest[end + 1..]
            .split(',')
            .skip(1)
            .map(|p| Path::parse(p.trim()).map_err(|e| bad(&e)))
            .collect::<Result<Vec<_>, _>>()?;
        if template.matches("{}").count() != paths.len() {
            return Err(bad("the template's {} and the arguments differ in number"));
        }
        Ok(Self::Format(template, paths))
    }

    pub fn render(&self, input: &Value, context: &Value) -> Result<Value, TaskError> {
        let read = |path: &Path| {
            path.select(input, context).cloned().ok_or_else(|| {
                TaskError::runtime(format!(
                    "The JSONPath '{path}' could not be found in the input"
                ))
            })
        };
        Ok(match self {
            Self::Literal(value) => value.clone(),
            Self::Path(path) => read(path)?,
            Self::Object(fields) => {
                let mut out = Map::new();
                for (name, template) in fields {
                    out.insert(name.clone(), template.render(input, context)?);
                }
                Value::Object(out)
            }
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(input, context))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Format(template, paths) => {
                let mut out = String::new();
                let mut pieces = template.split("{}");
                out.push_str(pieces.next().unwrap_or_default());
                for (piece, path) in pieces.zip(paths) {
                    // A string argument goes in as its text, anything else as its JSON.
                    match read(path)? {
                        Value::String(s) => out.push_str(&s),
                        other => out.push_str(&other.to_string()),
                    }
                    out.push_str(piece);
                }
                Value::String(out.replace('\u{0}', "{").replace('\u{1}', "}"))
            }
        })
    }
}

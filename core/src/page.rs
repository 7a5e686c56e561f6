//! Lists come in pages: a bounded size and an opaque cursor for the next page.

use crate::values::FieldError;
use serde::Serialize;

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// What a caller asked for: how many, and where to go on from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// From the `limit` and `cursor` query parameters.
    pub fn from_query(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, FieldError> {
        let limit = match limit {
            None => DEFAULT_PAGE_SIZE,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n @ 1..=MAX_PAGE_SIZE) => n,
                _ => {
                    return Err(FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                    ));
                }
            },
        };
        Ok(Self {
            limit,
            cursor: cursor.filter(|c| !c.is_empty()).map(str::to_owned),
        })
    }

    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

/// One page of a list; `next_cursor` is absent on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(
            PageRequest::from_query(None, None).unwrap().limit,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            PageRequest::from_query(Some("100"), None).unwrap().limit,
            100
        );
        for bad in ["0", "101", "-1", "x", "1.5"] {
            assert_eq!(
                PageRequest::from_query(Some(bad), None).unwrap_err().field,
                "limit"
            );
        }
        assert_eq!(
            PageRequest::from_query(None, Some("")).unwrap().cursor,
            None
        );
    }
}

//! The values that bake expressions evaluate to.
//!
//! Bake evaluates HCL with go-cty. rbake keeps cty's observable behaviour (automatic
//! string/number/bool conversion, objects iterated in key order, numbers as cty's big floats,
//! `base::Number`) with a small dynamic type: lists, tuples and sets share `List` (sets in
//! set order), maps and objects share `Map`, and a `BTreeMap` gives cty's sorted attribute
//! order for free.

use std::collections::BTreeMap;
use std::fmt;

pub use crate::base::Number;

#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// The kind of a value, named the way cty's friendly type names read in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    List,
    Map,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::List => "list",
            Kind::Map => "object",
        })
    }
}

impl Value {
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(_) => Kind::Number,
            Value::String(_) => Kind::String,
            Value::List(_) => Kind::List,
            Value::Map(_) => Kind::Map,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A count or index: cty's `NumberIntVal`.
    pub fn int(v: impl Into<Number>) -> Value {
        Value::Number(v.into())
    }

    /// A number written as a literal would be (tests write numbers as f64).
    #[cfg(test)]
    pub fn num(f: f64) -> Value {
        Value::Number(Number::parse(&f.to_string()).expect("a finite test number"))
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// cty's conversion to string: primitives convert, collections and null do not.
    pub fn to_str(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// cty's conversion to number: numbers, and strings that parse as decimal numbers.
    pub fn to_number(&self) -> Option<Number> {
        match self {
            Value::Number(n) => Some(n.clone()),
            Value::String(s) => Number::parse(s),
            _ => None,
        }
    }

    /// cty's conversion to bool: bools, and the strings `true` and `false`.
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" => Some(true),
            Value::String(s) if s == "false" => Some(false),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Converts to JSON the way cty's JSON encoding does (used by `jsonencode`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => number_to_json(n),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// The inverse of [`Value::to_json`] (used by `jsondecode` and JSON bake files).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            // serde_json keeps the shortest text that reads back as the same f64 (or an exact
            // integer), which cty then parses at 512 bits.
            serde_json::Value::Number(n) => {
                Number::parse(&n.to_string()).map_or(Value::Null, Value::Number)
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

fn number_to_json(n: &Number) -> serde_json::Value {
    // serde_json holds no arbitrary precision: integers exactly, others as the nearest f64.
    if let Some(i) = n.is_int().then(|| n.to_i64()).flatten() {
        return serde_json::Value::Number(i.into());
    }
    serde_json::Number::from_f64(n.to_f64())
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

impl fmt::Display for Value {
    /// A short rendering for messages, not a conversion.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            other => match other.to_str() {
                Some(s) => f.write_str(&s),
                None => f.write_str(&serde_json::to_string(&other.to_json()).unwrap_or_default()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_convert_to_numbers_and_bools() {
        assert_eq!(Value::string("42").to_number(), Some(Number::int(42)));
        assert_eq!(Value::string("0x10").to_number(), None);
        assert_eq!(Value::string(" 1").to_number(), None);
        assert_eq!(Value::string("true").to_bool(), Some(true));
        assert_eq!(Value::string("yes").to_bool(), None);
    }
}

//! Variable type constraints (`type = list(string)`) and cty's conversions into them,
//! including the CSV and `_JSON` forms environment overrides use.

use std::collections::BTreeMap;

use super::value::{Number, Value};
use crate::base::csv_fields;
use crate::syntax::ast::{Expr, ExprKind, ObjectKey};

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(BTreeMap<String, Type>),
}

impl Type {
    /// Reads a type expression. `Err` carries the span-less reason; the caller labels it.
    pub fn parse(e: &Expr) -> Result<Type, String> {
        match &e.kind {
            ExprKind::Var(name) => match name.as_str() {
                "any" => Ok(Type::Any),
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                other => Err(format!("`{other}` is not a type")),
            },
            ExprKind::Call(c) => {
                let (name, args) = (&c.name, &c.args);
                let one = || match args.as_slice() {
                    [a] => Type::parse(a),
                    _ => Err(format!("`{name}(...)` takes one element type")),
                };
                match name.as_str() {
                    "list" => Ok(Type::List(Box::new(one()?))),
                    "set" => Ok(Type::Set(Box::new(one()?))),
                    "map" => Ok(Type::Map(Box::new(one()?))),
                    "tuple" => match args.as_slice() {
                        [Expr { kind: ExprKind::Array(items), .. }] => Ok(Type::Tuple(items.iter().map(Type::parse).collect::<Result<_, _>>()?)),
                        _ => Err("`tuple(...)` takes a list of element types".into()),
                    },
                    "object" => match args.as_slice() {
                        [Expr { kind: ExprKind::Object(items), .. }] => {
                            let mut m = BTreeMap::new();
                            for (k, v) in items {
                                let key = match k {
                                    ObjectKey::Ident(n, _) => n.clone(),
                                    ObjectKey::Expr(x) => x.as_literal_str().ok_or("object type keys must be names")?,
                                };
                                m.insert(key, Type::parse(v)?);
                            }
                            Ok(Type::Object(m))
                        }
                        _ => Err("`object(...)` takes an object of attribute types".into()),
                    },
                    other => Err(format!("`{other}` is not a type constructor")),
                }
            }
            _ => Err("a type is `string`, `number`, `bool`, `any`, or `list(...)`, `set(...)`, `map(...)`, `tuple([...])`, `object({...})`".into()),
        }
    }

    pub fn is_primitive(&self) -> bool {
        matches!(self, Type::String | Type::Number | Type::Bool)
    }

    pub fn name(&self) -> String {
        match self {
            Type::Any => "any".into(),
            Type::String => "string".into(),
            Type::Number => "number".into(),
            Type::Bool => "bool".into(),
            Type::List(t) => format!("list({})", t.name()),
            Type::Set(t) => format!("set({})", t.name()),
            Type::Map(t) => format!("map({})", t.name()),
            Type::Tuple(_) => "tuple".into(),
            Type::Object(_) => "object".into(),
        }
    }

    /// cty's `convert.Convert`: null converts to anything; primitives convert among
    /// themselves where the text allows; collections convert element-wise.
    pub fn convert(&self, v: Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(v);
        }
        let mismatch = |v: &Value| format!("{} required, got {}", self.name(), v.kind());
        match self {
            Type::Any => Ok(v),
            Type::String => v.to_str().map(Value::String).ok_or_else(|| mismatch(&v)),
            Type::Number => v
                .to_number()
                .map(Value::Number)
                .ok_or_else(|| format!("a number is required, got {v}")),
            Type::Bool => v
                .to_bool()
                .map(Value::Bool)
                .ok_or_else(|| format!("a bool is required, got {v}")),
            Type::List(t) | Type::Set(t) => match v {
                Value::List(items) => {
                    let mut out: Vec<Value> = items
                        .into_iter()
                        .map(|x| t.convert(x))
                        .collect::<Result<_, _>>()?;
                    if matches!(self, Type::Set(_)) {
                        dedup(&mut out);
                    }
                    Ok(Value::List(out))
                }
                other => Err(mismatch(&other)),
            },
            Type::Map(t) => match v {
                Value::Map(m) => Ok(Value::Map(
                    m.into_iter()
                        .map(|(k, x)| Ok((k, t.convert(x)?)))
                        .collect::<Result<_, String>>()?,
                )),
                other => Err(mismatch(&other)),
            },
            Type::Tuple(ts) => match v {
                Value::List(items) if items.len() == ts.len() => Ok(Value::List(
                    items
                        .into_iter()
                        .zip(ts)
                        .map(|(x, t)| t.convert(x))
                        .collect::<Result<_, _>>()?,
                )),
                other => Err(mismatch(&other)),
            },
            Type::Object(ts) => match v {
                Value::Map(mut m) => {
                    let mut out = BTreeMap::new();
                    for (k, t) in ts {
                        let x = m
                            .remove(k)
                            .ok_or_else(|| format!("attribute `{k}` is required"))?;
                        out.insert(k.clone(), t.convert(x)?);
                    }
                    Ok(Value::Map(out))
                }
                other => Err(mismatch(&other)),
            },
        }
    }

    /// Reads an environment value for a variable of this type: primitives parse, lists, sets,
    /// tuples and maps of primitives read CSV (`a,b` / `k:v,k2:v2`).
    pub fn from_env(&self, text: &str) -> Result<Value, String> {
        match self {
            Type::String | Type::Any => Ok(Value::String(text.to_string())),
            Type::Number | Type::Bool => parse_primitive(text, self),
            Type::List(t) | Type::Set(t) if t.is_primitive() => {
                let items = csv_fields(text, ',')?
                    .iter()
                    .map(|f| parse_primitive(f, t))
                    .collect::<Result<_, _>>()?;
                self.convert(Value::List(items))
            }
            Type::Tuple(ts) if ts.iter().all(Type::is_primitive) => {
                let fields = csv_fields(text, ',')?;
                if fields.len() != ts.len() {
                    return Err(format!(
                        "expects {} elements but {} were given",
                        ts.len(),
                        fields.len()
                    ));
                }
                Ok(Value::List(
                    fields
                        .iter()
                        .zip(ts)
                        .map(|(f, t)| parse_primitive(f, t))
                        .collect::<Result<_, _>>()?,
                ))
            }
            Type::Map(t) if t.is_primitive() => {
                let mut m = BTreeMap::new();
                for f in csv_fields(text, ',')? {
                    let kv = csv_fields(&f, ':')?;
                    let [k, v] = kv.as_slice() else {
                        return Err(format!("expected one `key:value` pair, got `{f}`"));
                    };
                    m.insert(k.clone(), parse_primitive(v, t)?);
                }
                Ok(Value::Map(m))
            }
            other => Err(format!(
                "a value of type {} cannot be given as text; use NAME_JSON with a JSON value",
                other.name()
            )),
        }
    }
}

fn dedup(items: &mut Vec<Value>) {
    let mut seen: Vec<Value> = Vec::new();
    items.retain(|x| {
        if seen.contains(x) {
            false
        } else {
            seen.push(x.clone());
            true
        }
    });
}

/// Go's `strconv.ParseBool` and `ParseFloat`, as buildx uses them for overrides.
pub fn parse_primitive(text: &str, t: &Type) -> Result<Value, String> {
    match t {
        Type::Bool => match text {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not a bool (true or false)")),
        },
        Type::Number => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            // Compat: bake reads the text as a float64 (`cty.NumberFloatVal`), so the value
            // carries 53 bits, not the 512 of a literal.
            .and_then(|n| Number::float(n).ok())
            .map(Value::Number)
            .ok_or_else(|| format!("`{text}` is not a number")),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// For messages: the number formatting cty uses.
pub fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lists_are_csv() {
        let t = Type::List(Box::new(Type::String));
        assert_eq!(
            t.from_env("1.0,1,latest").unwrap(),
            Value::List(vec![
                Value::string("1.0"),
                Value::string("1"),
                Value::string("latest")
            ])
        );
    }
}

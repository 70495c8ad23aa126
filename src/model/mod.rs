//! The resolved definition: targets with every attribute decoded, merged (`inherits`,
//! repeated blocks, files) and overridden (`--set`), each value still knowing its span.

use std::borrow::Cow;
use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::source::Span;
use crate::spec::attrs::{self, AttrDef, Shape, TARGET_ATTRS};

/// One string with the span of the text that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    List(Vec<Item>),
    /// `None` values are kept only so they can be reported; they never print.
    Map(BTreeMap<String, Option<Item>>),
}

/// An attribute value and the span of the attribute that last set it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attr {
    pub value: AttrValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: String,
    /// The `target "NAME"` head of the (first) block that defined it.
    pub span: Span,
    pub attrs: Attrs,
}

/// A target's attributes by their index in [`TARGET_ATTRS`], holding only those that are set.
///
/// A target sets a handful of the 37 attributes; a slot for each took 1.8 KB per target,
/// and a 5000-block definition holds each target twice (the config and the resolved
/// definition) at its peak.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Attrs(Vec<(u8, Attr)>);

impl Attrs {
    fn find(&self, i: usize) -> Result<usize, usize> {
        self.0.binary_search_by_key(&i, |(k, _)| usize::from(*k))
    }

    pub fn get(&self, i: usize) -> Option<&Attr> {
        self.find(i).ok().map(|p| &self.0[p].1)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Attr> {
        self.find(i).ok().map(|p| &mut self.0[p].1)
    }

    pub fn set(&mut self, i: usize, attr: Option<Attr>) {
        match (self.find(i), attr) {
            (Ok(p), Some(a)) => self.0[p].1 = a,
            (Ok(p), None) => {
                self.0.remove(p);
            }
            (Err(p), Some(a)) => {
                let key = u8::try_from(i).expect("fewer than 256 target attributes");
                self.0.insert(p, (key, a));
            }
            (Err(_), None) => {}
        }
    }

    pub fn take(&mut self, i: usize) -> Option<Attr> {
        self.find(i).ok().map(|p| self.0.remove(p).1)
    }

    /// The set attributes, in [`TARGET_ATTRS`] order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Attr)> {
        self.0.iter().map(|(i, a)| (usize::from(*i), a))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Attr)> {
        self.0.iter_mut().map(|(i, a)| (usize::from(*i), a))
    }
}

impl Target {
    pub fn new(name: impl Into<String>, span: Span) -> Target {
        Target {
            name: name.into(),
            span,
            attrs: Attrs::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Attr> {
        let def = attrs::target_attr(key)?;
        self.attrs.get(attrs::index_of(def))
    }

    pub fn get_def(&self, def: &'static AttrDef) -> Option<&Attr> {
        self.attrs.get(attrs::index_of(def))
    }

    pub fn set_def(&mut self, def: &'static AttrDef, attr: Option<Attr>) {
        self.attrs.set(attrs::index_of(def), attr);
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match &self.get(key)?.value {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match &self.get(key)?.value {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn list(&self, key: &str) -> &[Item] {
        match self.get(key).map(|a| &a.value) {
            Some(AttrValue::List(items)) => items,
            _ => &[],
        }
    }

    /// Map entries that have a value.
    pub fn map(&self, key: &str) -> Vec<(&str, &Item)> {
        match self.get(key).map(|a| &a.value) {
            Some(AttrValue::Map(m)) => m
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.as_str(), v)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Merges `other` on top of `self` by each attribute's merge rule.
    pub fn merge(&mut self, other: &Target) {
        for (i, theirs) in other.attrs.iter() {
            self.merge_attr(i, Cow::Borrowed(theirs));
        }
    }

    /// [`Target::merge`], moving `other`'s values instead of copying them.
    pub fn merge_owned(&mut self, other: Target) {
        for (i, theirs) in other.attrs.0 {
            self.merge_attr(usize::from(i), Cow::Owned(theirs));
        }
    }

    fn merge_attr(&mut self, i: usize, theirs: Cow<'_, Attr>) {
        let def = &TARGET_ATTRS[i];
        // Ours is moved, not copied: merging parents into a fresh target, then the
        // target's own block on top, copies each value once.
        let merged = match (self.attrs.take(i), def.merge) {
            (Some(mine), attrs::Merge::Append) => append(mine, theirs),
            (Some(mine), attrs::Merge::Keys) => merge_keys(mine, theirs),
            _ => {
                let mut a = theirs.into_owned();
                // A map of only nulls sets nothing.
                if let (AttrValue::Map(m), Shape::Map) = (&mut a.value, def.shape) {
                    m.retain(|_, v| v.is_some());
                }
                a
            }
        };
        self.attrs.set(i, Some(merged));
    }
}

fn append(mine: Attr, theirs: Cow<'_, Attr>) -> Attr {
    match (mine.value, theirs) {
        (AttrValue::List(mut items), theirs) if matches!(theirs.value, AttrValue::List(_)) => {
            let span = theirs.span;
            match theirs {
                Cow::Borrowed(Attr {
                    value: AttrValue::List(b),
                    ..
                }) => items.extend(b.iter().cloned()),
                Cow::Owned(Attr {
                    value: AttrValue::List(b),
                    ..
                }) => items.extend(b),
                _ => {}
            }
            Attr {
                value: AttrValue::List(items),
                span,
            }
        }
        (_, theirs) => theirs.into_owned(),
    }
}

fn merge_keys(mine: Attr, theirs: Cow<'_, Attr>) -> Attr {
    match (mine.value, theirs) {
        (AttrValue::Map(mut m), theirs) if matches!(theirs.value, AttrValue::Map(_)) => {
            let span = theirs.span;
            match theirs {
                Cow::Borrowed(Attr {
                    value: AttrValue::Map(b),
                    ..
                }) => m.extend(
                    b.iter()
                        .filter(|(_, v)| v.is_some())
                        .map(|(k, v)| (k.clone(), v.clone())),
                ),
                Cow::Owned(Attr {
                    value: AttrValue::Map(b),
                    ..
                }) => m.extend(b.into_iter().filter(|(_, v)| v.is_some())),
                _ => {}
            }
            Attr {
                value: AttrValue::Map(m),
                span,
            }
        }
        (_, theirs) => theirs.into_owned(),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub span: Span,
    pub targets: Vec<Item>,
    pub description: Option<String>,
}

/// What `print` shows: the requested groups and the targets they resolve to.
#[derive(Clone, Debug, Default)]
pub struct Definition {
    pub groups: BTreeMap<String, Group>,
    pub targets: IndexMap<String, Target>,
}

pub mod access;
pub mod annotation;
pub mod attest;
pub mod output;
pub mod platform;
pub mod reference;
pub use platform::Platform;

/// An rbake `builder` block, evaluated. Attributes are keyed by `attrs::BUILDER_ATTRS`.
#[derive(Clone, Debug, PartialEq)]
pub struct Builder {
    pub name: String,
    pub span: Span,
    pub attrs: BTreeMap<&'static str, Attr>,
}

impl Builder {
    pub fn str(&self, key: &str) -> Option<&str> {
        match &self.attrs.get(key)?.value {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn list(&self, key: &str) -> &[Item] {
        match self.attrs.get(key).map(|a| &a.value) {
            Some(AttrValue::List(items)) => items,
            _ => &[],
        }
    }

    pub fn span_of(&self, key: &str) -> Span {
        self.attrs.get(key).map_or(self.span, |a| a.span)
    }
}
pub mod capabilities;
pub use capabilities::Capabilities;

//! Label and field selectors with the syntax, validation and matching rules of the Kubernetes API server.

use std::fmt;

use serde_json::{Map, Value};

/// A selector that could not be parsed or built. The `Display` text is meant to be the `message` of a
/// 400 BadRequest `Status`, so it follows upstream's wording where that wording is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// One requirement of a label selector string is malformed or invalid.
    #[error("unable to parse requirement: {0}")]
    Requirement(Box<SelectorError>),
    /// The token stream of a label selector string is malformed.
    #[error("{0}")]
    Syntax(String),
    /// A key, operator or value failed validation; the text is upstream's `field.ErrorList` rendering.
    #[error("{0}")]
    Invalid(String),
    /// A `matchExpressions` entry uses an operator other than In, NotIn, Exists or DoesNotExist.
    #[error("{} is not a valid label selector operator", go_quote(.0))]
    UnknownOperator(String),
    /// A JSON `LabelSelector` does not have the expected shape.
    #[error("invalid label selector: {0}")]
    Malformed(String),
    /// A field selector term has no `=`, `==` or `!=` operator.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm { selector: String, term: String },
    /// A field selector value uses a backslash escape other than `\\`, `\,` or `\=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A field selector value contains a bare `,` or `=`.
    #[error("invalid field selector: unescaped character in value: {0:?}")]
    UnescapedChar(char),
}

// ---------------------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------------------

/// The operator of one label requirement. `Equals` and `DoubleEquals` match identically; both are kept so
/// that `Display` gives back what the client wrote, as upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelOp {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One validated requirement. Values are kept sorted and de-duplicated, which is how upstream stores
/// parsed sets and prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    key: String,
    op: LabelOp,
    values: Vec<String>,
}

impl LabelRequirement {
    /// Validates like upstream's `NewRequirement`, so both the string and the JSON path report the
    /// same errors for the same mistakes.
    pub fn new(key: &str, op: LabelOp, values: Vec<String>) -> Result<LabelRequirement, SelectorError> {
        let mut errs = FieldErrors::default();
        errs.push_all("key", &Shown::Str(key.to_string()), qualified_name_errors(key));
        check_value_count(op, &values, &mut errs);
        for (i, v) in values.iter().enumerate() {
            errs.push_all(&format!("values[{i}][{key}]"), &Shown::Str(v.clone()), label_value_errors(v));
        }
        errs.into_result()?;
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(LabelRequirement { key: key.to_string(), op, values })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> LabelOp {
        self.op
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Absent keys satisfy only the negative operators (`!=`, `notin`, `!key`), as upstream.
    pub fn matches_fn<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let found = get(&self.key);
        match self.op {
            LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::In => found.is_some_and(|v| self.has_value(v)),
            LabelOp::NotEquals | LabelOp::NotIn => found.is_none_or(|v| !self.has_value(v)),
            LabelOp::Exists => found.is_some(),
            LabelOp::DoesNotExist => found.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => found.is_some_and(|v| self.compare_int(v)),
        }
    }

    fn has_value(&self, v: &str) -> bool {
        self.values.binary_search_by(|x| x.as_str().cmp(v)).is_ok()
    }

    // A label that is not an integer never satisfies gt/lt; it is not an error.
    fn compare_int(&self, label: &str) -> bool {
        let (Ok(have), Some(Ok(want))) =
            (label.parse::<i64>(), self.values.first().map(|s| s.parse::<i64>()))
        else {
            return false;
        };
        match self.op {
            LabelOp::GreaterThan => have > want,
            _ => have < want,
        }
    }
}

// The value-count rules per operator, with upstream's wording.
fn check_value_count(op: LabelOp, values: &[String], errs: &mut FieldErrors) {
    let shown = Shown::List(values.to_vec());
    match op {
        LabelOp::In | LabelOp::NotIn if values.is_empty() => {
            errs.push("values", &shown, "for 'in', 'notin' operators, values set can't be empty")
        }
        LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::NotEquals if values.len() != 1 => {
            errs.push("values", &shown, "exact-match compatibility requires one single value")
        }
        LabelOp::Exists | LabelOp::DoesNotExist if !values.is_empty() => {
            errs.push("values", &shown, "values set must be empty for exists and does not exist")
        }
        LabelOp::GreaterThan | LabelOp::LessThan => {
            if values.len() != 1 {
                errs.push("values", &shown, "for 'Gt', 'Lt' operators, exactly one value is required");
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    let detail = "for 'Gt', 'Lt' operators, the value must be an integer";
                    errs.push(&format!("values[{i}]"), &Shown::Str(v.clone()), detail);
                }
            }
        }
        _ => {}
    }
}

impl fmt::Display for LabelRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = self.values.join(",");
        match self.op {
            LabelOp::Exists => write!(f, "{}", self.key),
            LabelOp::DoesNotExist => write!(f, "!{}", self.key),
            LabelOp::Equals => write!(f, "{}={joined}", self.key),
            LabelOp::DoubleEquals => write!(f, "{}=={joined}", self.key),
            LabelOp::NotEquals => write!(f, "{}!={joined}", self.key),
            LabelOp::In => write!(f, "{} in ({joined})", self.key),
            LabelOp::NotIn => write!(f, "{} notin ({joined})", self.key),
            LabelOp::GreaterThan => write!(f, "{}>{joined}", self.key),
            LabelOp::LessThan => write!(f, "{}<{joined}", self.key),
        }
    }
}

/// A conjunction of label requirements. The empty selector matches everything; the "nothing" selector
/// (from a JSON `null` selector) matches no object at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Parses the `labelSelector` query-parameter syntax.
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        let requirements = Parser::new(s).parse()?;
        Ok(LabelSelector::from_requirements(requirements))
    }

    /// A selector that matches every object.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// A selector that matches no object; upstream's meaning of a null `LabelSelector`.
    pub fn nothing() -> LabelSelector {
        LabelSelector { requirements: Vec::new(), nothing: true }
    }

    /// Requirements are ordered by key (stable for equal keys) so `Display` is canonical.
    pub fn from_requirements(mut requirements: Vec<LabelRequirement>) -> LabelSelector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements, nothing: false }
    }

    /// Builds an equality selector from a plain label map such as `Service.spec.selector`; an empty map
    /// selects everything.
    pub fn from_map(labels: &Map<String, Value>) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            let v = v
                .as_str()
                .ok_or_else(|| SelectorError::Malformed(format!("value of label {k:?} must be a string")))?;
            requirements.push(LabelRequirement::new(k, LabelOp::Equals, vec![v.to_string()])?);
        }
        Ok(LabelSelector::from_requirements(requirements))
    }

    /// Converts a Kubernetes `LabelSelector` object (`matchLabels` + `matchExpressions`), following
    /// upstream's `LabelSelectorAsSelector`: `null` selects nothing and `{}` selects everything.
    pub fn from_label_selector_json(sel: &Value) -> Result<LabelSelector, SelectorError> {
        let obj = match sel {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(obj) => obj,
            _ => return Err(SelectorError::Malformed("expected an object".to_string())),
        };
        let mut requirements = match obj.get("matchLabels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => LabelSelector::from_map(m)?.requirements,
            Some(_) => return Err(SelectorError::Malformed("matchLabels must be an object".to_string())),
        };
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(expression_requirement(expr)?);
                }
            }
            Some(_) => return Err(SelectorError::Malformed("matchExpressions must be a list".to_string())),
        }
        Ok(LabelSelector::from_requirements(requirements))
    }

    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// True for the selector that matches everything (no requirements and not "nothing").
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    /// True for the selector built from a JSON `null`, which matches no object.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// Matches `metadata.labels` of an object. Non-string values are treated as absent because they
    /// cannot be valid labels.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.matches_fn(|k| labels.get(k).and_then(Value::as_str))
    }

    /// Matches a whole object by its `metadata.labels`; an object without labels has none.
    pub fn matches_value(&self, obj: &Value) -> bool {
        let labels = obj.get("metadata").and_then(|m| m.get("labels")).and_then(Value::as_object);
        self.matches_fn(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }

    /// Matches against any label lookup, for callers whose labels are not a JSON map.
    pub fn matches_fn<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches_fn(&get))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LabelSelector::parse(s)
    }
}

// One `matchExpressions` entry; a missing key is left empty so validation reports it like upstream.
fn expression_requirement(expr: &Value) -> Result<LabelRequirement, SelectorError> {
    let obj = expr.as_object().ok_or_else(|| malformed("matchExpressions entries must be objects"))?;
    let key = match obj.get("key") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("matchExpressions key must be a string")),
    };
    let op = match obj.get("operator") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("matchExpressions operator must be a string")),
    };
    let op = match op {
        "In" => LabelOp::In,
        "NotIn" => LabelOp::NotIn,
        "Exists" => LabelOp::Exists,
        "DoesNotExist" => LabelOp::DoesNotExist,
        other => return Err(SelectorError::UnknownOperator(other.to_string())),
    };
    LabelRequirement::new(key, op, expression_values(obj.get("values"))?)
}

fn expression_values(values: Option<&Value>) -> Result<Vec<String>, SelectorError> {
    let list = match values {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(malformed("matchExpressions values must be a list")),
    };
    list.iter()
        .map(|v| {
            v.as_str().map(str::to_string).ok_or_else(|| malformed("matchExpressions values must be strings"))
        })
        .collect()
}

fn malformed(msg: &str) -> SelectorError {
    SelectorError::Malformed(msg.to_string())
}

// ---------------------------------------------------------------------------------------------------------
// Label selector lexer and parser
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ident,
    In,
    NotIn,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    OpenPar,
    ClosedPar,
    Comma,
    End,
}

// Upstream reads `in`/`notin` as keywords only where an operator may appear; everywhere else they
// are ordinary identifiers (a key or value may be "in").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Operator,
    Values,
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

// The whole input is tokenized up front, always ending in `End`, so lookahead is a plain index.
fn tokenize(s: &str) -> Vec<(Tok, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start_matches(is_blank);
    while let Some(c) = rest.chars().next() {
        let len = if is_special(c) {
            special_len(rest)
        } else {
            rest.find(|c: char| is_blank(c) || is_special(c)).unwrap_or(rest.len())
        };
        let lit = &rest[..len];
        out.push((token_kind(lit), lit.to_string()));
        rest = rest[len..].trim_start_matches(is_blank);
    }
    out.push((Tok::End, String::new()));
    out
}

// Longest match: only `!=` and `==` are two characters long.
fn special_len(s: &str) -> usize {
    if s.starts_with("!=") || s.starts_with("==") { 2 } else { 1 }
}

fn token_kind(lit: &str) -> Tok {
    match lit {
        "!" => Tok::Bang,
        "!=" => Tok::NotEquals,
        "=" => Tok::Equals,
        "==" => Tok::DoubleEquals,
        ">" => Tok::Greater,
        "<" => Tok::Less,
        "(" => Tok::OpenPar,
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "in" => Tok::In,
        "notin" => Tok::NotIn,
        _ => Tok::Ident,
    }
}

struct Parser {
    tokens: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    fn new(s: &str) -> Parser {
        Parser { tokens: tokenize(s), pos: 0 }
    }

    fn lookahead(&self, ctx: Ctx) -> (Tok, String) {
        let (tok, lit) = &self.tokens[self.pos.min(self.tokens.len() - 1)];
        let tok = match (ctx, tok) {
            (Ctx::Values, Tok::In | Tok::NotIn) => Tok::Ident,
            _ => *tok,
        };
        (tok, lit.clone())
    }

    fn consume(&mut self, ctx: Ctx) -> (Tok, String) {
        let item = self.lookahead(ctx);
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        item
    }

    fn parse(&mut self) -> Result<Vec<LabelRequirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Ctx::Values);
            match tok {
                Tok::Ident | Tok::Bang => {
                    let r = self.parse_requirement().map_err(|e| SelectorError::Requirement(Box::new(e)))?;
                    requirements.push(r);
                    if self.after_requirement()? {
                        return Ok(requirements);
                    }
                }
                Tok::End => return Ok(requirements),
                _ => {
                    return Err(syntax(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    // Returns true at the end of input; a comma must be followed by another requirement.
    fn after_requirement(&mut self) -> Result<bool, SelectorError> {
        let (tok, lit) = self.consume(Ctx::Values);
        match tok {
            Tok::End => Ok(true),
            Tok::Comma => match self.lookahead(Ctx::Values) {
                (Tok::Ident | Tok::Bang, _) => Ok(false),
                (_, next) => Err(syntax(format!("found '{next}', expected: identifier after ','"))),
            },
            _ => Err(syntax(format!("found '{lit}', expected: ',' or 'end of string'"))),
        }
    }

    fn parse_requirement(&mut self) -> Result<LabelRequirement, SelectorError> {
        let (key, unary) = self.parse_key()?;
        if let Some(op) = unary {
            return LabelRequirement::new(&key, op, Vec::new());
        }
        let op = self.parse_operator()?;
        let values = match op {
            LabelOp::In | LabelOp::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        LabelRequirement::new(&key, op, values)
    }

    // Reads `[!]key` and, when nothing binary follows, decides Exists/DoesNotExist. A `!key` followed by
    // more tokens stays DoesNotExist and the caller then reports the stray token, as upstream.
    fn parse_key(&mut self) -> Result<(String, Option<LabelOp>), SelectorError> {
        let (mut tok, mut lit) = self.consume(Ctx::Values);
        let negated = tok == Tok::Bang;
        if negated {
            (tok, lit) = self.consume(Ctx::Values);
        }
        if tok != Tok::Ident {
            return Err(syntax(format!("found '{lit}', expected: identifier")));
        }
        // Upstream validates here with no field path, hence the literal "<nil>".
        let mut errs = FieldErrors::default();
        errs.push_all("<nil>", &Shown::Str(lit.clone()), qualified_name_errors(&lit));
        errs.into_result()?;
        if negated {
            return Ok((lit, Some(LabelOp::DoesNotExist)));
        }
        match self.lookahead(Ctx::Values).0 {
            Tok::End | Tok::Comma => Ok((lit, Some(LabelOp::Exists))),
            _ => Ok((lit, None)),
        }
    }

    fn parse_operator(&mut self) -> Result<LabelOp, SelectorError> {
        let (tok, lit) = self.consume(Ctx::Operator);
        match tok {
            Tok::In => Ok(LabelOp::In),
            Tok::NotIn => Ok(LabelOp::NotIn),
            Tok::Equals => Ok(LabelOp::Equals),
            Tok::DoubleEquals => Ok(LabelOp::DoubleEquals),
            Tok::NotEquals => Ok(LabelOp::NotEquals),
            Tok::Greater => Ok(LabelOp::GreaterThan),
            Tok::Less => Ok(LabelOp::LessThan),
            _ => Err(syntax(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt"))),
        }
    }

    // `(a,b)`; empty slots such as `()`, `(,a)` or `(a,)` stand for the empty value, as upstream.
    fn parse_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let (tok, lit) = self.consume(Ctx::Values);
        if tok != Tok::OpenPar {
            return Err(syntax(format!("found '{lit}' expected: '('")));
        }
        let (tok, lit) = self.lookahead(Ctx::Values);
        match tok {
            Tok::Ident | Tok::Comma => {
                let values = self.parse_identifier_list()?;
                // The list only returns when `)` is next.
                self.consume(Ctx::Values);
                Ok(values)
            }
            Tok::ClosedPar => {
                self.consume(Ctx::Values);
                Ok(vec![String::new()])
            }
            _ => Err(syntax(format!("found '{lit}', expected: ',', ')' or identifier"))),
        }
    }

    fn parse_identifier_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut set = std::collections::BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Ctx::Values);
            match tok {
                Tok::Ident => {
                    set.insert(lit);
                    match self.lookahead(Ctx::Values) {
                        (Tok::Comma, _) => {}
                        (Tok::ClosedPar, _) => return Ok(set.into_iter().collect()),
                        (_, next) => return Err(syntax(format!("found '{next}', expected: ',' or ')'"))),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.lookahead(Ctx::Values).0 {
                        Tok::ClosedPar => {
                            set.insert(String::new());
                            return Ok(set.into_iter().collect());
                        }
                        Tok::Comma => {
                            self.consume(Ctx::Values);
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(syntax(format!("found '{lit}', expected: ',', or identifier"))),
            }
        }
    }

    // `key=` with nothing after the operator means the empty value.
    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        if matches!(self.lookahead(Ctx::Values).0, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.consume(Ctx::Values) {
            (Tok::Ident, lit) => Ok(vec![lit]),
            (_, lit) => Err(syntax(format!("found '{lit}', expected: identifier"))),
        }
    }
}

fn syntax(msg: String) -> SelectorError {
    SelectorError::Syntax(msg)
}

// ---------------------------------------------------------------------------------------------------------
// Validation, with upstream's messages (k8s.io/apimachinery util/validation)
// ---------------------------------------------------------------------------------------------------------

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;

pub(crate) fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    // Upstream's separator really is "', " followed by " or ", giving the double space.
    let shown: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!("{msg} (e.g. {}regex used for validation is '{fmt}')", shown.join(" or "))
}

pub(crate) fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => ok(first) && ok(last) && b.iter().all(|c| ok(c) || *c == b'-'),
        _ => false,
    }
}

pub(crate) fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > PREFIX_MAX {
        errs.push(max_len_error(PREFIX_MAX));
    }
    if !s.split('.').all(is_dns1123_label) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// Checks a label key: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63
/// characters. Returns upstream's messages; empty means valid.
pub fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain_errors(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            let msg = regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
            errs.push(format!(
                "a qualified name {msg} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > NAME_MAX {
        errs.push(format!("name part {}", max_len_error(NAME_MAX)));
    }
    if !is_qualified_name_part(name) {
        let msg = regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
        errs.push(format!("name part {msg}"));
    }
    errs
}

/// Checks a label value: empty, or at most 63 characters of the qualified-name alphabet.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > NAME_MAX {
        errs.push(max_len_error(NAME_MAX));
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errs.push(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

// How upstream's field errors print the offending value: `%q` for strings, `%#v` for string slices.
enum Shown {
    Str(String),
    List(Vec<String>),
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Str(s) => f.write_str(&go_quote(s)),
            Shown::List(l) if l.is_empty() => f.write_str("[]string(nil)"),
            Shown::List(l) => {
                let items: Vec<String> = l.iter().map(|s| go_quote(s)).collect();
                write!(f, "[]string{{{}}}", items.join(", "))
            }
        }
    }
}

// Collects "path: Invalid value: v: detail" lines and renders them as upstream's aggregate error:
// one error alone, several de-duplicated inside "[a, b]".
#[derive(Default)]
struct FieldErrors(Vec<String>);

impl FieldErrors {
    fn push(&mut self, path: &str, value: &Shown, detail: &str) {
        let msg = format!("{path}: Invalid value: {value}: {detail}");
        if !self.0.contains(&msg) {
            self.0.push(msg);
        }
    }

    // Several problems with one value are a single upstream error with details joined by "; ".
    fn push_all(&mut self, path: &str, value: &Shown, details: Vec<String>) {
        if !details.is_empty() {
            self.push(path, value, &details.join("; "));
        }
    }

    fn into_result(self) -> Result<(), SelectorError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(SelectorError::Invalid(self.0.concat())),
            _ => Err(SelectorError::Invalid(format!("[{}]", self.0.join(", ")))),
        }
    }
}

// Go's `%q`, close enough for error messages: escapes quotes, backslashes and control characters.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

/// One `field=value` or `field!=value` term; `value` is already unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

impl FieldRequirement {
    fn matches(&self, actual: &str) -> bool {
        match self.op {
            FieldOp::Equals => actual == self.value,
            FieldOp::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOp::Equals => "=",
            FieldOp::NotEquals => "!=",
        };
        write!(f, "{}{op}{}", self.field, escape_field_value(&self.value))
    }
}

/// A conjunction of field terms. Field names are not checked here: which fields exist depends on the
/// kind, so the server inspects `requirements()` and rejects unsupported ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query-parameter syntax. As upstream, whitespace is not trimmed: it is
    /// part of the field name or value.
    pub fn parse(s: &str) -> Result<FieldSelector, SelectorError> {
        let mut terms = split_terms(s);
        // Upstream sorts the raw terms, which fixes both the canonical order and which error is reported.
        terms.sort_unstable();
        let mut requirements = Vec::with_capacity(terms.len());
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let (field, op, raw) = split_term(term).ok_or_else(|| SelectorError::FieldTerm {
                selector: s.to_string(),
                term: term.to_string(),
            })?;
            let value = unescape_field_value(raw)?;
            requirements.push(FieldRequirement { field: field.to_string(), op, value });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    pub fn from_requirements(requirements: Vec<FieldRequirement>) -> FieldSelector {
        FieldSelector { requirements }
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value `field` must equal, if some `field=value` term pins it (e.g. to serve
    /// `metadata.name=x` or `spec.nodeName=n` without a full scan).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.op == FieldOp::Equals)
            .map(|r| r.value.as_str())
    }

    /// `fields` yields an object's value for a field path. `None` is compared as the empty string, the
    /// value upstream sees for a field that is unset, so `spec.nodeName=` selects unscheduled pods.
    pub fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| r.matches(&fields(&r.field).unwrap_or_default()))
    }

    /// Matches a JSON object, resolving each field path with [`selectable_field`].
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.matches(&|path| selectable_field(obj, path))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

// Splits on commas that are not backslash-escaped, keeping escapes for the later unescape step.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

// The field name cannot contain escapes, so the first operator wins; `!=` and `==` are tried before
// `=` so that no stray character is left on the value.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if let Some(v) = rest.strip_prefix("!=") {
            return Some((&term[..i], FieldOp::NotEquals, v));
        }
        if let Some(v) = rest.strip_prefix("==").or_else(|| rest.strip_prefix('=')) {
            return Some((&term[..i], FieldOp::Equals, v));
        }
    }
    None
}

fn unescape_field_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(other) => return Err(SelectorError::InvalidEscape(format!("\\{other}"))),
                None => return Err(SelectorError::InvalidEscape("\\".to_string())),
            },
            ',' | '=' => return Err(SelectorError::UnescapedChar(c)),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Escapes a value for use in a field selector string (`\` `,` `=` get a backslash).
pub fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The value a field selector compares for `path` of `obj`, as upstream's per-kind
/// `ToSelectableFields` functions compute it: mostly [`object_field`], but a few fields are
/// printed from Go values, so an unset boolean reads "false" and an unset count "0", and some
/// selector names are not the JSON path (an Event's `source` is `source.component`, a Job's
/// `status.successful` is `status.succeeded`). The kind is the object's own `kind`.
pub fn selectable_field(obj: &Value, path: &str) -> Option<String> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let (json_path, unset) = match (kind, path) {
        ("Node", "spec.unschedulable") | ("Pod", "spec.hostNetwork") => (path, "false"),
        ("ReplicaSet" | "ReplicationController", "status.replicas") => (path, "0"),
        ("Job", "status.successful") => ("status.succeeded", "0"),
        ("Event", "source") => ("source.component", ""),
        _ => (path, ""),
    };
    let value = object_field(obj, json_path)?;
    Some(if value.is_empty() { unset.to_string() } else { value })
}

/// Resolves a dotted field path such as `spec.nodeName` in a JSON object. Strings are returned as-is
/// and numbers and booleans in their JSON spelling. A missing or null field (or a missing parent)
/// gives `Some("")`, matching upstream where unset supported fields read as the empty string. A path
/// that ends on an object or array gives `None`: such a field cannot be compared with a string.
/// Kind-specific defaults (a node's unset `spec.unschedulable` reads "false" upstream) are
/// [`selectable_field`]'s.
pub fn object_field(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for segment in path.split('.') {
        match cur.get(segment) {
            Some(next) => cur = next,
            None => return Some(String::new()),
        }
    }
    match cur {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("test labels must be an object, got {other}"),
        }
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("parse {s:?}: {e}"))
    }

    fn err(s: &str) -> String {
        match LabelSelector::parse(s) {
            Ok(v) => panic!("parse {s:?} should fail, got {v}"),
            Err(e) => e.to_string(),
        }
    }

    fn ok(s: &str, l: Value) -> bool {
        sel(s).matches(&labels(l))
    }

    const NAME_REGEX_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_REGEX_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    // --- label selector: operators -------------------------------------------------------------------

    #[test]
    fn empty_selector_matches_everything() {
        for s in ["", "   ", "\t\n"] {
            let s = sel(s);
            assert!(s.is_empty());
            assert!(s.matches(&Map::new()));
            assert!(s.matches(&labels(json!({"a": "b"}))));
            assert_eq!(s.to_string(), "");
        }
    }

    #[test]
    fn equality_operators() {
        for s in ["app=web", "app==web", " app = web ", "app\t==\tweb"] {
            assert!(ok(s, json!({"app": "web"})), "{s}");
            assert!(!ok(s, json!({"app": "db"})), "{s}");
            assert!(!ok(s, json!({})), "{s}");
        }
    }

    #[test]
    fn not_equals_matches_missing_key() {
        assert!(ok("app!=web", json!({"app": "db"})));
        assert!(ok("app!=web", json!({})));
        assert!(!ok("app!=web", json!({"app": "web"})));
        assert!(ok("app != web", json!({"other": "web"})));
    }

    #[test]
    fn empty_value_after_equals() {
        assert!(ok("app=", json!({"app": ""})));
        assert!(!ok("app=", json!({"app": "x"})));
        assert!(!ok("app=", json!({})));
        assert!(ok("app=,tier=db", json!({"app": "", "tier": "db"})));
        assert!(ok("app!=", json!({"app": "x"})));
        assert!(!ok("app!=", json!({"app": ""})));
    }

    #[test]
    fn in_and_notin() {
        assert!(ok("env in (prod, qa)", json!({"env": "qa"})));
        assert!(ok("env in(prod,qa)", json!({"env": "prod"})));
        assert!(!ok("env in (prod,qa)", json!({"env": "dev"})));
        assert!(!ok("env in (prod,qa)", json!({})));
        assert!(ok("env notin (prod,qa)", json!({"env": "dev"})));
        assert!(ok("env notin (prod,qa)", json!({})));
        assert!(!ok("env notin (prod,qa)", json!({"env": "prod"})));
    }

    #[test]
    fn in_with_empty_slots_means_empty_value() {
        for s in ["env in ()", "env in (,a)", "env in (a,)", "env in (a,,b)"] {
            let parsed = sel(s);
            let r = &parsed.requirements()[0];
            assert!(r.values().contains(&String::new()), "{s}: {:?}", r.values());
            assert!(ok(s, json!({"env": ""})), "{s}");
        }
        assert_eq!(sel("env in (b,,a)").requirements()[0].values(), ["", "a", "b"]);
    }

    #[test]
    fn keywords_are_identifiers_outside_operator_position() {
        assert!(ok("in=notin", json!({"in": "notin"})));
        assert!(ok("x in (in, notin)", json!({"x": "notin"})));
        assert!(ok("notin", json!({"notin": "1"})));
    }

    #[test]
    fn exists_and_does_not_exist() {
        assert!(ok("app", json!({"app": ""})));
        assert!(!ok("app", json!({"tier": "x"})));
        assert!(ok("!app", json!({"tier": "x"})));
        assert!(!ok("!app", json!({"app": "x"})));
        assert!(ok(" ! app , tier ", json!({"tier": "x"})));
        assert_eq!(sel("!app").requirements()[0].operator(), LabelOp::DoesNotExist);
        assert_eq!(sel("app").requirements()[0].operator(), LabelOp::Exists);
    }

    #[test]
    fn numeric_comparisons() {
        assert!(ok("replicas>5", json!({"replicas": "6"})));
        assert!(!ok("replicas>5", json!({"replicas": "5"})));
        assert!(ok("replicas < 5", json!({"replicas": "4"})));
        assert!(!ok("replicas<5", json!({"replicas": "5"})));
        assert!(!ok("replicas>5", json!({})), "missing key never satisfies gt");
        assert!(!ok("replicas>5", json!({"replicas": "ten"})), "non-integer label never satisfies gt");
        // Go's ParseInt would accept "-1", but it is not a valid label value, so upstream rejects it.
        assert!(err("replicas>-1").contains("values[0][replicas]: Invalid value: \"-1\""));
        assert!(ok("replicas>0", json!({"replicas": "10"})));
    }

    #[test]
    fn all_requirements_must_hold() {
        let s = "app=web,env in (prod),!legacy,tier";
        assert!(ok(s, json!({"app": "web", "env": "prod", "tier": "fe"})));
        assert!(!ok(s, json!({"app": "web", "env": "prod", "tier": "fe", "legacy": "y"})));
        assert!(!ok(s, json!({"app": "web", "env": "prod"})));
    }

    #[test]
    fn non_string_label_values_count_as_absent() {
        assert!(!ok("n=1", json!({"n": 1})));
        assert!(ok("n!=1", json!({"n": 1})));
    }

    #[test]
    fn prefixed_keys() {
        assert!(ok("app.kubernetes.io/name=web", json!({"app.kubernetes.io/name": "web"})));
        assert!(ok("!example.com/x", json!({})));
    }

    #[test]
    fn matches_value_reads_metadata_labels() {
        let s = sel("app=web");
        assert!(s.matches_value(&json!({"metadata": {"name": "p", "labels": {"app": "web"}}})));
        assert!(!s.matches_value(&json!({"metadata": {"name": "p"}})));
        assert!(!s.matches_value(&json!({})));
        assert!(sel("app!=web").matches_value(&json!({"metadata": {}})));
        assert!(sel("").matches_value(&json!({"kind": "Pod"})));
    }

    // --- label selector: canonical form ---------------------------------------------------------------

    #[test]
    fn display_is_canonical_and_sorted_by_key() {
        let s = sel("z in (b, a, b), a!=x, m, !k, n==1, g>3, h<4, e notin (q,p)");
        assert_eq!(s.to_string(), "a!=x,e notin (p,q),g>3,h<4,!k,m,n==1,z in (a,b)");
        // The canonical form parses back to the same selector.
        assert_eq!(sel(&s.to_string()), s);
    }

    #[test]
    fn from_str_works() {
        let s: LabelSelector = "a=b".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.to_string(), "a=b");
    }

    // --- label selector: syntax errors ----------------------------------------------------------------

    #[test]
    fn syntax_errors_read_like_upstream() {
        assert_eq!(
            err("x(a)"),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err("x in a"), "unable to parse requirement: found 'a' expected: '('");
        assert_eq!(err("x in (a"), "unable to parse requirement: found '', expected: ',' or ')'");
        assert_eq!(err("x in (a b)"), "unable to parse requirement: found 'b', expected: ',' or ')'");
        assert_eq!(
            err("x in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(err("x in (a,=)"), "unable to parse requirement: found '=', expected: ',', or identifier");
        assert_eq!(err("x=(a)"), "unable to parse requirement: found '(', expected: identifier");
        assert_eq!(err("!=a"), "found '!=', expected: !, identifier, or 'end of string'");
        assert_eq!(err("!"), "unable to parse requirement: found '', expected: identifier");
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(err("a,,b"), "found ',', expected: identifier after ','");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(err(",a"), "found ',', expected: !, identifier, or 'end of string'");
        assert_eq!(err("=a"), "found '=', expected: !, identifier, or 'end of string'");
        assert_eq!(err("a===b"), "unable to parse requirement: found '=', expected: identifier");
    }

    #[test]
    fn value_with_space_is_two_tokens() {
        assert_eq!(err("app=bad value"), "found 'value', expected: ',' or 'end of string'");
    }

    #[test]
    fn numeric_operators_need_integers() {
        assert_eq!(
            err("a>b"),
            "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            err("a<"),
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert!(err("a>1.5").contains("must be an integer"));
    }

    // --- label selector: key and value validation -----------------------------------------------------

    #[test]
    fn invalid_keys() {
        assert_eq!(
            err("app:web"),
            format!("unable to parse requirement: <nil>: Invalid value: \"app:web\": {NAME_REGEX_MSG}")
        );
        assert_eq!(
            err("-app=x"),
            format!("unable to parse requirement: <nil>: Invalid value: \"-app\": {NAME_REGEX_MSG}")
        );
        assert!(err("a/b/c=d").contains("a qualified name must consist of"), "{}", err("a/b/c=d"));
        assert!(
            err("a/b/c=d")
                .ends_with("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")
        );
        assert_eq!(
            err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        );
        assert_eq!(
            err("a/"),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; {NAME_REGEX_MSG}"
            )
        );
        let e = err("Example.com/a");
        assert!(e.contains("prefix part a lowercase RFC 1123 subdomain must consist of"), "{e}");
        assert!(e.contains("(e.g. 'example.com', regex used for validation is"), "{e}");
        let long_name = "a".repeat(64);
        assert_eq!(
            err(&long_name),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long_name}\": name part must be no more than 63 characters"
            )
        );
        let long_prefix = format!("{}/a", "a".repeat(254));
        assert!(err(&long_prefix).contains("prefix part must be no more than 253 characters"));
        assert!(err("a..b/c").contains("prefix part a lowercase RFC 1123"));
    }

    #[test]
    fn valid_key_edge_cases() {
        assert!(LabelSelector::parse(&"a".repeat(63)).is_ok());
        assert!(LabelSelector::parse(&format!("{}/a", "a".repeat(253))).is_ok());
        assert!(LabelSelector::parse("a-b.c_d=E.f-G_h").is_ok());
        assert!(LabelSelector::parse("1.2-3/x").is_ok());
    }

    #[test]
    fn invalid_values() {
        assert_eq!(
            err("app=-web"),
            format!(
                "unable to parse requirement: values[0][app]: Invalid value: \"-web\": {VALUE_REGEX_MSG}"
            )
        );
        // Parsed sets are validated in sorted order, so the index refers to the sorted position.
        assert_eq!(
            err("app in (ok, _bad)"),
            format!(
                "unable to parse requirement: values[0][app]: Invalid value: \"_bad\": {VALUE_REGEX_MSG}"
            )
        );
        let long = "v".repeat(64);
        assert_eq!(
            err(&format!("app={long}")),
            format!(
                "unable to parse requirement: values[0][app]: Invalid value: \"{long}\": must be no more than 63 characters"
            )
        );
        assert!(LabelSelector::parse(&format!("app={}", "v".repeat(63))).is_ok());
    }

    #[test]
    fn several_invalid_values_are_aggregated() {
        let e = err("app in (-a, -b)");
        assert!(e.starts_with("unable to parse requirement: [values[0][app]: Invalid value: \"-a\""), "{e}");
        assert!(e.contains(", values[1][app]: Invalid value: \"-b\""), "{e}");
        assert!(e.ends_with(']'), "{e}");
    }

    // --- label selector: from JSON LabelSelector ------------------------------------------------------

    fn from_json(v: Value) -> LabelSelector {
        LabelSelector::from_label_selector_json(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn json_err(v: Value) -> String {
        match LabelSelector::from_label_selector_json(&v) {
            Ok(s) => panic!("{v} should fail, got {s}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn json_empty_selector_matches_everything() {
        for v in [json!({}), json!({"matchLabels": {}}), json!({"matchLabels": null, "matchExpressions": []})]
        {
            let s = from_json(v);
            assert!(s.is_empty());
            assert!(s.matches(&labels(json!({"x": "y"}))));
            assert!(s.matches(&Map::new()));
        }
    }

    #[test]
    fn json_null_selector_matches_nothing() {
        let s = from_json(Value::Null);
        assert!(s.matches_nothing());
        assert!(!s.is_empty());
        assert!(!s.matches(&Map::new()));
        assert!(!s.matches_value(&json!({"metadata": {"labels": {"a": "b"}}})));
    }

    #[test]
    fn json_match_labels_and_expressions() {
        let s = from_json(json!({
            "matchLabels": {"app": "web", "tier": "fe"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "qa"]},
                {"key": "track", "operator": "NotIn", "values": ["canary"]},
                {"key": "owner", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist", "values": []},
            ]
        }));
        assert_eq!(s.to_string(), "app=web,env in (prod,qa),!legacy,owner,tier=fe,track notin (canary)");
        let good = json!({"app": "web", "tier": "fe", "env": "qa", "owner": "me"});
        assert!(s.matches(&labels(good.clone())));
        let mut canary = labels(good.clone());
        canary.insert("track".into(), json!("canary"));
        assert!(!s.matches(&canary));
        let mut legacy = labels(good);
        legacy.insert("legacy".into(), json!("true"));
        assert!(!s.matches(&legacy));
        assert!(!s.matches(&labels(json!({"app": "web", "tier": "fe", "env": "dev", "owner": "me"}))));
    }

    #[test]
    fn json_validation_errors_read_like_upstream() {
        assert_eq!(
            json_err(json!({"matchLabels": {"app": "bad value"}})),
            format!("values[0][app]: Invalid value: \"bad value\": {VALUE_REGEX_MSG}")
        );
        assert_eq!(
            json_err(json!({"matchLabels": {"-app": "x"}})),
            format!("key: Invalid value: \"-app\": {NAME_REGEX_MSG}")
        );
        assert_eq!(
            json_err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            json_err(json!({"matchExpressions": [{"key": "a", "operator": "NotIn"}]})),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            json_err(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "y"]}]})),
            "values: Invalid value: []string{\"x\", \"y\"}: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            json_err(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
            "\"Gt\" is not a valid label selector operator"
        );
        assert_eq!(
            json_err(json!({"matchExpressions": [{"operator": "Exists"}]})),
            format!("key: Invalid value: \"\": name part must be non-empty; {NAME_REGEX_MSG}")
        );
    }

    #[test]
    fn json_shape_errors() {
        assert!(json_err(json!("app=web")).starts_with("invalid label selector:"));
        assert!(json_err(json!({"matchLabels": ["a"]})).contains("matchLabels must be an object"));
        assert!(json_err(json!({"matchLabels": {"a": 1}})).contains("must be a string"));
        assert!(json_err(json!({"matchExpressions": {}})).contains("matchExpressions must be a list"));
        assert!(json_err(json!({"matchExpressions": [1]})).contains("entries must be objects"));
        assert!(
            json_err(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}))
                .contains("values must be strings")
        );
    }

    #[test]
    fn from_map_builds_equality_selector() {
        let s =
            LabelSelector::from_map(&labels(json!({"b": "2", "a": "1"}))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.to_string(), "a=1,b=2");
        assert!(LabelSelector::from_map(&Map::new()).map(|s| s.is_empty()).unwrap_or(false));
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\x01é\"");
    }

    // --- field selectors -----------------------------------------------------------------------------

    fn fsel(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("parse {s:?}: {e}"))
    }

    fn ferr(s: &str) -> String {
        match FieldSelector::parse(s) {
            Ok(v) => panic!("parse {s:?} should fail, got {v}"),
            Err(e) => e.to_string(),
        }
    }

    fn pod() -> Value {
        json!({
            "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "node-a", "priority": 7, "hostNetwork": true},
            "status": {"phase": "Running"}
        })
    }

    #[test]
    fn field_empty_matches_everything() {
        for s in ["", ",", ",,"] {
            let f = fsel(s);
            assert!(f.is_empty());
            assert!(f.matches(&|_| None));
            assert!(f.matches_object(&pod()));
        }
    }

    #[test]
    fn field_operators() {
        assert_eq!(fsel("metadata.name=a").requirements()[0].op, FieldOp::Equals);
        assert_eq!(fsel("metadata.name==a").requirements()[0].value, "a");
        assert_eq!(fsel("metadata.name!=a").requirements()[0].op, FieldOp::NotEquals);
        assert!(fsel("metadata.name=web-1").matches_object(&pod()));
        assert!(fsel("metadata.name==web-1").matches_object(&pod()));
        assert!(!fsel("metadata.name!=web-1").matches_object(&pod()));
        assert!(fsel("status.phase!=Pending,spec.nodeName=node-a").matches_object(&pod()));
        assert!(!fsel("status.phase!=Running,spec.nodeName=node-a").matches_object(&pod()));
    }

    #[test]
    fn field_requirements_are_sorted_and_exposed() {
        let f = fsel("status.phase=Running,metadata.name!=x");
        let fields: Vec<&str> = f.requirements().iter().map(|r| r.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "status.phase"]);
        assert_eq!(f.to_string(), "metadata.name!=x,status.phase=Running");
        assert_eq!(f.requires_exact_match("status.phase"), Some("Running"));
        assert_eq!(f.requires_exact_match("metadata.name"), None);
    }

    #[test]
    fn field_escapes() {
        let f = fsel(r"metadata.name=a\,b\=c\\d");
        assert_eq!(f.requirements().len(), 1);
        assert_eq!(f.requirements()[0].value, r"a,b=c\d");
        assert!(f.matches(&|p| (p == "metadata.name").then(|| r"a,b=c\d".to_string())));
        assert_eq!(f.to_string(), r"metadata.name=a\,b\=c\\d");
        assert_eq!(fsel(&f.to_string()), f);
        assert_eq!(escape_field_value(r"x=y,z\"), r"x\=y\,z\\");
    }

    #[test]
    fn field_value_may_contain_operator_after_first() {
        // Only the first operator splits; a later unescaped '=' in the value is an error.
        assert_eq!(ferr("a=b=c"), "invalid field selector: unescaped character in value: '='");
        assert_eq!(fsel("a!=b\\=c").requirements()[0].value, "b=c");
        // "==" is tried before "=", leaving a bare '=' in the value.
        assert_eq!(ferr("a===b"), "invalid field selector: unescaped character in value: '='");
    }

    #[test]
    fn field_syntax_errors() {
        assert_eq!(
            ferr("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(ferr("b=1,zzz"), "invalid selector: 'b=1,zzz'; can't understand 'zzz'");
        assert_eq!(ferr(r"a=b\x"), r"invalid field selector: invalid escape sequence: \x");
        assert_eq!(ferr(r"a=b\"), r"invalid field selector: invalid escape sequence: \");
    }

    #[test]
    fn field_whitespace_is_significant() {
        let f = fsel("metadata.name = web-1");
        assert_eq!(f.requirements()[0].field, "metadata.name ");
        assert_eq!(f.requirements()[0].value, " web-1");
        assert!(!f.matches_object(&pod()));
    }

    #[test]
    fn field_missing_values_read_as_empty() {
        let unscheduled = json!({"metadata": {"name": "p"}, "spec": {}});
        assert!(fsel("spec.nodeName=").matches_object(&unscheduled));
        assert!(!fsel("spec.nodeName!=").matches_object(&unscheduled));
        assert!(!fsel("spec.nodeName=").matches_object(&pod()));
        assert!(fsel("spec.nodeName!=").matches_object(&pod()));
        assert!(fsel("spec.nodeName=").matches(&|_| None), "None compares as the empty string");
        assert!(!fsel("spec.nodeName=x").matches(&|_| None));
    }

    #[test]
    fn selectable_fields_read_unset_go_values_and_renamed_paths() {
        let node = json!({"kind": "Node", "spec": {}});
        assert!(fsel("spec.unschedulable=false").matches_object(&node));
        assert!(!fsel("spec.unschedulable==true").matches_object(&node));
        let cordoned = json!({"kind": "Node", "spec": {"unschedulable": true}});
        assert!(fsel("spec.unschedulable!=false").matches_object(&cordoned));
        assert!(fsel("spec.hostNetwork=false").matches_object(&json!({"kind": "Pod", "spec": {}})));
        assert!(fsel("status.replicas=0").matches_object(&json!({"kind": "ReplicaSet"})));
        let job = json!({"kind": "Job", "status": {"succeeded": 2}});
        assert!(fsel("status.successful=2").matches_object(&job));
        assert!(fsel("status.successful=0").matches_object(&json!({"kind": "Job"})));
        let event = json!({"kind": "Event", "source": {"component": "kubelet", "host": "n1"}});
        assert!(fsel("source=kubelet").matches_object(&event));
        // Other kinds keep the plain reading: unset is the empty string.
        assert!(fsel("spec.unschedulable=").matches_object(&json!({"kind": "Pod"})));
    }

    #[test]
    fn object_field_resolution() {
        let p = pod();
        assert_eq!(object_field(&p, "metadata.name").as_deref(), Some("web-1"));
        assert_eq!(object_field(&p, "spec.priority").as_deref(), Some("7"));
        assert_eq!(object_field(&p, "spec.hostNetwork").as_deref(), Some("true"));
        assert_eq!(object_field(&p, "kind").as_deref(), Some("Pod"));
        assert_eq!(object_field(&p, "spec.missing").as_deref(), Some(""));
        assert_eq!(object_field(&p, "nothere.at.all").as_deref(), Some(""));
        assert_eq!(object_field(&p, "metadata.name.deeper").as_deref(), Some(""));
        assert_eq!(object_field(&json!({"a": null}), "a").as_deref(), Some(""));
        assert_eq!(object_field(&p, "metadata"), None);
        assert_eq!(object_field(&json!({"a": [1]}), "a"), None);
        let ev = json!({"type": "Warning", "involvedObject": {"kind": "Pod", "name": "web-1"}});
        assert_eq!(object_field(&ev, "involvedObject.kind").as_deref(), Some("Pod"));
        assert_eq!(object_field(&ev, "type").as_deref(), Some("Warning"));
    }
}

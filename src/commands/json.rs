//! What each verb prints with `--output json`, as a JSON Schema (`gio-ami schema --report VERB`).
//! A verb's module names its report type (`pub type Report`) and says so in `JSON`; `verbs!`
//! lists them by the names typed on the command line.

use crate::change;
use crate::error::{Error, Result};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value};

/// What a verb prints with `--output json`.
#[derive(Clone, Copy)]
pub enum Json {
    /// The JSON Schema of its report.
    Report(fn() -> Schema),
    /// A verb of subcommands, each with its own.
    Subcommands(&'static [(&'static str, Json)]),
    /// No JSON: what it prints instead, for the error that says so.
    Not(&'static str),
}

impl Json {
    /// The report of type `T`.
    pub const fn of<T: JsonSchema>() -> Json {
        Json::Report(schema::<T>)
    }
}

/// What a command that changes something prints: its plan (`plan`: the actions, each with why,
/// and the facts it was made from), whether it was applied, each action's outcome, and the
/// counts; some verbs add their own fields at the top.
// `Top` is what `Own::top` adds: the plan's facts for publish, adopt and promote, what the
// apply made for build and upload (an `Option`: absent until applied). Only its schema is
// used: `Shown` writes the JSON.
#[derive(JsonSchema)]
#[schemars(bound = "F: JsonSchema + 'static, Top: JsonSchema, S: JsonSchema + 'static")]
pub struct Mutation<F: 'static, Top = (), S: 'static = change::Action> {
    #[serde(flatten)]
    pub report: change::Report<'static, F, S>,
    #[serde(flatten)]
    pub top: Top,
}

/// One of two shapes, as the verb's flags choose.
// `snapshots --orphans`, `history --update`, `cost` with `[accounts]`. Only its schema is used.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum Either<A, B> {
    A(A),
    B(B),
}

/// The JSON Schema (2020-12) of what `T` serializes to, closed: an object has the properties
/// it lists and no other, so a renamed field is an error, not an extra.
pub fn schema<T: JsonSchema>() -> Schema {
    let mut schema =
        SchemaSettings::draft2020_12().for_serialize().into_generator().into_root_schema_for::<T>();
    if let Some(root) = schema.as_object_mut() {
        let defs = match root.remove("$defs") {
            Some(Value::Object(defs)) => defs,
            _ => Map::new(),
        };
        close_object(root, true, &defs);
        if !defs.is_empty() {
            let mut closed = defs.clone();
            closed.values_mut().for_each(|def| close(def, true, &defs));
            root.insert("$defs".into(), Value::Object(closed));
        }
    }
    schema
}

/// Marks every object in `schema` closed to properties it does not list. A whole object
/// (`whole`) is closed where it is: with `additionalProperties`, or, when it is assembled from
/// parts (a flattened enum: `oneOf`, `allOf` beside its own `properties`), with
/// `unevaluatedProperties`, which sees the parts' properties too. The parts themselves stay
/// open (closing one would refuse its siblings' fields), and a definition used as a part is
/// inlined, open, since elsewhere it is a whole.
fn close(schema: &mut Value, whole: bool, defs: &Map<String, Value>) {
    if let Value::Object(object) = schema {
        close_object(object, whole, defs);
    }
}

fn close_object(object: &mut Map<String, Value>, whole: bool, defs: &Map<String, Value>) {
    let parts = ["allOf", "oneOf", "anyOf"];
    let assembled = object.contains_key("allOf")
        || (object.contains_key("properties") && parts.iter().any(|k| object.contains_key(*k)));
    if !whole {
        if let Some(Value::String(reference)) = object.remove("$ref") {
            let name = reference.trim_start_matches("#/$defs/");
            if let Some(Value::Object(def)) = defs.get(name) {
                for (key, value) in def {
                    object.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
            return close_object(object, whole, defs);
        }
    }
    let open = |o: &Map<String, Value>| {
        !o.contains_key("additionalProperties") && !o.contains_key("unevaluatedProperties")
    };
    if whole && object.contains_key("properties") && open(object) {
        let key = if assembled { "unevaluatedProperties" } else { "additionalProperties" };
        object.insert(key.into(), Value::Bool(false));
    } else if whole && assembled && open(object) {
        object.insert("unevaluatedProperties".into(), Value::Bool(false));
    }
    for (key, value) in object.iter_mut() {
        match key.as_str() {
            "properties" => value
                .as_object_mut()
                .into_iter()
                .flat_map(|p| p.values_mut())
                .for_each(|p| close(p, true, defs)),
            "items" | "additionalProperties" => close(value, true, defs),
            "prefixItems" => value.as_array_mut().into_iter().flatten().for_each(|i| close(i, true, defs)),
            k if parts.contains(&k) => {
                let part_whole = whole && !assembled;
                value.as_array_mut().into_iter().flatten().for_each(|p| close(p, part_whole, defs));
            }
            _ => {}
        }
    }
}

/// Finds the report of the verb `asked` (its words as typed: `wipe`, `disks add`) among
/// `verbs`; a verb of one subcommand answers for it by its own name too (`disks`).
pub fn find(verbs: &[(String, Json)], asked: &str) -> Result<Schema> {
    let words: Vec<&str> = asked.split_whitespace().collect();
    let unknown = || Error::UnknownReport { asked: asked.to_string(), verbs: names(verbs) };
    let (first, rest) = words.split_first().ok_or_else(unknown)?;
    let (name, json) = verbs.iter().find(|(name, _)| name == first).ok_or_else(unknown)?;
    let (mut json, mut path, mut rest) = (*json, name.clone(), rest);
    loop {
        json = match (json, rest) {
            (Json::Report(schema), []) => {
                let mut schema = schema();
                schema.insert("title".into(), format!("gio-ami {path} --output json").into());
                return Ok(schema);
            }
            (Json::Not(instead), []) => {
                return Err(Error::NoReport { verb: path, instead: instead.to_string() })
            }
            (Json::Subcommands([(sub, only)]), []) => {
                path = format!("{path} {sub}");
                *only
            }
            (Json::Subcommands(subs), [word, more @ ..]) => {
                let (sub, json) = subs.iter().find(|(name, _)| name == word).ok_or_else(unknown)?;
                (path, rest) = (format!("{path} {sub}"), more);
                *json
            }
            _ => return Err(unknown()),
        };
    }
}

/// Every name `find` answers with a report, for the error that lists them.
pub fn names(verbs: &[(String, Json)]) -> Vec<String> {
    fn walk(name: String, json: &Json, into: &mut Vec<String>) {
        match json {
            Json::Report(_) => into.push(name),
            Json::Subcommands(subs) => {
                subs.iter().for_each(|(sub, json)| walk(format!("{name} {sub}"), json, into))
            }
            Json::Not(_) => {}
        }
    }
    let mut into = Vec::new();
    verbs.iter().for_each(|(name, json)| walk(name.clone(), json, &mut into));
    into
}

/// A verb's name as typed from its variant's (`RecycleBin` → `recycle-bin`), as clap derives it.
pub fn kebab(variant: &str) -> String {
    let mut name = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_whole_object_is_closed_and_its_flattened_parts_are_not() {
        let mut schema = json!({
            "type": "object",
            "properties": {"status": {"type": "string"}, "inner": {"$ref": "#/$defs/Inner"}},
            "oneOf": [{"properties": {"action": {"const": "a"}}}, {"$ref": "#/$defs/Inner"}],
        });
        let defs = json!({"Inner": {"type": "object", "properties": {"x": {}}}});
        close(&mut schema, true, defs.as_object().unwrap());
        assert_eq!(schema["unevaluatedProperties"], json!(false));
        assert_eq!(schema.get("additionalProperties"), None);
        assert_eq!(schema["oneOf"][0].get("additionalProperties"), None, "a part stays open");
        assert_eq!(schema["oneOf"][1]["properties"], json!({"x": {}}), "a part's definition is inlined");
        assert_eq!(
            schema["properties"]["inner"],
            json!({"$ref": "#/$defs/Inner"}),
            "a whole keeps its reference"
        );
    }

    #[test]
    fn a_plain_object_and_the_branches_of_a_choice_are_closed() {
        let mut schema = json!({"anyOf": [{"type": "object", "properties": {"a": {}}}, {"type": "null"}]});
        close(&mut schema, true, &Map::new());
        assert_eq!(schema["anyOf"][0]["additionalProperties"], json!(false));
        assert_eq!(schema.get("unevaluatedProperties"), None);
    }

    #[test]
    fn verbs_are_found_by_their_words() {
        const SUBS: &[(&str, Json)] = &[("add", Json::of::<u8>())];
        let verbs = vec![
            ("wipe".to_string(), Json::of::<String>()),
            ("disks".to_string(), Json::Subcommands(SUBS)),
            ("man".to_string(), Json::Not("man pages")),
        ];
        assert_eq!(find(&verbs, "wipe").unwrap().get("type"), Some(&json!("string")));
        assert_eq!(find(&verbs, "disks add").unwrap().get("type"), Some(&json!("integer")));
        let disks = find(&verbs, "disks").unwrap();
        assert_eq!(disks.get("type"), Some(&json!("integer")), "its only subcommand");
        assert_eq!(disks.get("title"), Some(&json!("gio-ami disks add --output json")));
        let unknown = find(&verbs, "wipes").unwrap_err().to_string();
        assert!(unknown.contains("`wipes`") && unknown.contains("wipe, disks add"), "{unknown}");
        assert!(find(&verbs, "disks remove").is_err() && find(&verbs, "wipe now").is_err());
        assert!(find(&verbs, "man").unwrap_err().to_string().contains("man pages"));
    }

    #[test]
    fn every_verb_is_named_as_it_is_typed() {
        use clap::CommandFactory;
        let cli = super::super::Cli::command();
        let typed: Vec<&str> = cli.get_subcommands().map(|c| c.get_name()).collect();
        let verbs = super::super::reports();
        assert_eq!(verbs.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), typed);
        for (name, json) in &verbs {
            if let Json::Subcommands(subs) = json {
                let verb = cli.find_subcommand(name).unwrap();
                let typed: Vec<&str> = verb.get_subcommands().map(|c| c.get_name()).collect();
                assert_eq!(subs.iter().map(|(sub, _)| *sub).collect::<Vec<_>>(), typed, "{name}");
            }
        }
    }

    #[test]
    fn names_are_kebab_case() {
        assert_eq!(kebab("RecycleBin"), "recycle-bin");
        assert_eq!(kebab("Wipe"), "wipe");
    }
}
